// Client-side probe (run inside ferry-client): node probe.mjs IP SECONDS OUT.json
// - echo: ONE TCP connection to IP:7 opened at start, a numbered line every 10 ms; checks every
//   line comes back, in order, on the same connection; records the longest silence.
// - http: a NEW connection every 50 ms (GET /health, 1 s timeout); longest span without success.
import net from 'node:net';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
const [ip, secs, out] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const r = { start: Date.now(), echo: { sent: 0, recv: 0, outOfOrder: 0, closed: null, maxGapMs: 0, gapAt: null }, http: { ok: 0, fail: 0, maxGapMs: 0, gapAt: null } };
const sock = net.createConnection({ host: ip, port: 7 });
sock.setNoDelay(true);
let buf = '', expect = 0, lastRecv = Date.now(), seq = 0, timer;
sock.on('connect', () => {
  r.echo.localPort = sock.localPort; lastRecv = Date.now();
  timer = setInterval(() => { sock.write(`${seq++} ${Date.now()}\n`); r.echo.sent++; }, 10);
});
sock.on('data', (d) => {
  const now = Date.now();
  if (now - lastRecv > r.echo.maxGapMs) { r.echo.maxGapMs = now - lastRecv; r.echo.gapAt = [lastRecv, now]; }
  lastRecv = now;
  buf += d; let i;
  while ((i = buf.indexOf('\n')) >= 0) {
    const n = Number(buf.slice(0, i).split(' ')[0]); buf = buf.slice(i + 1);
    if (n !== expect) r.echo.outOfOrder++;
    expect = n + 1; r.echo.recv++;
  }
});
sock.on('error', (e) => { r.echo.closed = `${Date.now()} ${e.message}`; });
sock.on('close', () => { r.echo.closed ??= `${Date.now()} closed`; clearInterval(timer); });
let lastOk = Date.now();
const poll = setInterval(() => {
  const t = Date.now();
  const req = http.get({ host: ip, port: 80, path: '/health', timeout: 1000, agent: false }, (res) => {
    res.resume(); res.on('end', () => {
      const now = Date.now(); r.http.ok++;
      if (t - lastOk > r.http.maxGapMs) { r.http.maxGapMs = t - lastOk; r.http.gapAt = [lastOk, t]; }
      lastOk = Math.max(lastOk, t);
    });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => { r.http.fail++; });
}, 50);
setTimeout(() => {
  clearInterval(poll); clearInterval(timer);
  setTimeout(() => {
    r.end = Date.now(); r.echo.survived = r.echo.closed === null && r.echo.recv > 0 && expect === seq;
    r.echo.lastEchoed = expect; r.echo.lastSent = seq;
    sock.destroy(); writeFileSync(out, JSON.stringify(r, null, 1)); console.log(JSON.stringify(r)); process.exit(0);
  }, 1500);
}, secs * 1000);
