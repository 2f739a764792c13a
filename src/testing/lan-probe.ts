// A client on a guest segment, run inside the segment's namespace (`ip netns exec NS node
// lan-probe.js IP`): the test process cannot reach guests there itself. It keeps ONE TCP
// connection to the guest's echo port and sends a numbered line every `--every` ms, checking
// that each comes back, in order, on that same connection; and it opens a NEW connection to
// the guest's HTTP port every 50 ms. Commands on stdin: `mark` starts a new measuring window,
// `report` prints the window's numbers as one JSON line, `stop` reports and exits.
import { request } from 'node:http';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';

const [ip, everyArg] = process.argv.slice(2);
if (!ip) throw new Error('usage: lan-probe IP [EVERY_MS]');
const EVERY_MS = Number(everyArg ?? 10);
const HTTP_EVERY_MS = 50;

interface Window {
  sent: number;
  echoed: number;
  /** Lines that came back out of order or altered. */
  wrong: number;
  /** Longest time without an echo while lines were outstanding. */
  echoGapMs: number;
  httpOk: number;
  httpFailed: number;
  /** Longest time between two answered HTTP requests. */
  httpGapMs: number;
  /** A /health answer that was not `ok`. */
  httpWrong: number;
}

const fresh = (): Window => ({ sent: 0, echoed: 0, wrong: 0, echoGapMs: 0, httpOk: 0, httpFailed: 0, httpGapMs: 0, httpWrong: 0 });
let w = fresh();
let next = 0;
let expect = 0;
let lastEcho = performance.now();
let lastHttp = performance.now();
let closed: string | undefined;
let buf = '';

const sock = connect({ host: ip, port: 7 });
sock.setNoDelay(true);
sock.setEncoding('utf8');
sock.on('data', (d: string) => {
  buf += d;
  for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (line !== String(expect)) w.wrong++;
    expect++;
    const now = performance.now();
    w.echoGapMs = Math.max(w.echoGapMs, now - lastEcho);
    lastEcho = now;
    w.echoed++;
  }
});
sock.on('close', () => (closed ??= 'closed'));
sock.on('error', (err) => (closed = err.message));
sock.on('connect', () => {
  lastEcho = performance.now();
  setInterval(() => {
    if (closed) return;
    // Nothing outstanding: the gap clock starts at this send, not at the last echo.
    if (next === expect) lastEcho = performance.now();
    sock.write(`${next++}\n`);
    w.sent++;
  }, EVERY_MS);
});

setInterval(() => {
  const req = request({ host: ip, port: 80, path: '/health', agent: false, timeout: 1000 }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (body += c));
    res.on('end', () => {
      const now = performance.now();
      if (body.trim() !== 'ok') w.httpWrong++;
      w.httpOk++;
      w.httpGapMs = Math.max(w.httpGapMs, now - lastHttp);
      lastHttp = now;
    });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => w.httpFailed++);
  req.end();
}, HTTP_EVERY_MS);

const report = (): void => {
  process.stdout.write(JSON.stringify({ ...w, echoGapMs: Math.round(w.echoGapMs), httpGapMs: Math.round(w.httpGapMs), outstanding: next - expect, closed: closed ?? null }) + '\n');
};
createInterface({ input: process.stdin }).on('line', (cmd) => {
  if (cmd === 'mark') {
    w = fresh();
    lastEcho = lastHttp = performance.now();
  } else if (cmd === 'report') report();
  else if (cmd === 'stop') {
    report();
    process.exit(0);
  }
});
process.stdin.on('end', () => process.exit(0));
