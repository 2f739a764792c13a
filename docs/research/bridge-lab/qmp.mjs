// Minimal QMP client. Library: `await qmp(sock)` -> {cmd(name,args), close()}.
// CLI: node qmp.mjs SOCK COMMAND ['{"json":"args"}']  -> prints the return value as JSON.
import net from 'node:net';
export async function qmp(path) {
  const s = net.createConnection(path);
  let buf = '', waiters = [], events = [];
  const lines = [];
  s.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const m = JSON.parse(buf.slice(0, i)); buf = buf.slice(i + 1);
      if (m.event) { events.push({ t: Date.now(), ...m }); continue; }
      if (m.QMP) continue;
      const w = waiters.shift(); if (w) m.error ? w.rej(new Error(`${m.error.class}: ${m.error.desc}`)) : w.res(m.return);
    }
  });
  await new Promise((res, rej) => { s.once('connect', res); s.once('error', rej); });
  const cmd = (execute, args) => new Promise((res, rej) => {
    waiters.push({ res, rej });
    s.write(JSON.stringify(args ? { execute, arguments: args } : { execute }) + '\n');
  });
  await cmd('qmp_capabilities');
  return { cmd, events, close: () => s.end() };
}
if (import.meta.url === `file://${process.argv[1]}`) {
  const [sock, name, args] = process.argv.slice(2);
  const q = await qmp(sock);
  try { console.log(JSON.stringify(await q.cmd(name, args ? JSON.parse(args) : undefined))); }
  catch (e) { console.error(e.message); process.exitCode = 1; }
  q.close();
}
