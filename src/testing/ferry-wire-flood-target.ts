// A process that accepts ferry-wire sessions and never reads their channels, for the flood tests
// in src/ferry-wire/limits.test.ts. Its memory is measured apart from the test's own: it samples
// its RSS, and on 'reset' (after a GC) takes a baseline; on 'peak' it reports the highest RSS
// since, minus the baseline. argv[2]: channels the peer may open (SessionOptions.peerChannels).
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { once } from 'node:events';
import { acceptSession } from '../ferry-wire/handshake.js';

const peerChannels = Number(process.argv[2] ?? 1);
const send = (m: unknown): void => void process.send?.(m);
let baseline = process.memoryUsage().rss;
let peak = baseline;
setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);

const srv = net.createServer((s) => {
  s.on('error', () => undefined);
  acceptSession(s, () => ({ mode: 'passthrough', peerChannels })).then(
    (session) => session.closed.then(() => send({ type: 'ended', code: 'closed' }), (e: { code?: string }) => send({ type: 'ended', code: e.code })),
    () => undefined,
  );
});
srv.listen(0, '127.0.0.1');
await once(srv, 'listening');

process.on('message', (m) => {
  if (m === 'reset') {
    (globalThis as { gc?: () => void }).gc?.();
    baseline = process.memoryUsage().rss;
    peak = baseline;
    send({ type: 'reset' });
  } else if (m === 'peak') {
    peak = Math.max(peak, process.memoryUsage().rss);
    send({ type: 'peak', growth: peak - baseline });
  }
});
send({ type: 'ready', port: (srv.address() as AddressInfo).port });
