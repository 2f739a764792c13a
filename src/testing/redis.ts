// A minimal redis client for the e2e tests' Debian guest: one RESP command per connection (a
// user-mode forward ends its connections at a migration's switch-over, so none is kept), the
// reply as text. Replies are size-limited; a simple string, error, integer or bulk string is all
// the tests read.
import { connect } from 'node:net';

const MAX_REPLY_BYTES = 64 * 1024;

export function redisCommand(url: string, args: string[], timeoutMs = 10_000): Promise<string> {
  const { hostname, port } = new URL(url.replace(/^tcp:/, 'http:'));
  const req = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), hostname, () => sock.write(req));
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => sock.destroy(new Error(`redis ${args[0]}: no reply within ${timeoutMs} ms`)), timeoutMs);
    const done = (err: Error | undefined, v?: string): void => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(v!);
    };
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length > MAX_REPLY_BYTES) return done(new Error('redis reply too long'));
      const text = buf.toString('utf8');
      const nl = text.indexOf('\r\n');
      if (nl < 0) return;
      const head = text.slice(0, nl);
      if (head[0] === '-') return done(new Error(`redis: ${head.slice(1)}`));
      if (head[0] !== '$') return done(undefined, head.slice(1));
      const len = Number(head.slice(1));
      if (len < 0) return done(undefined, '(nil)');
      if (Buffer.byteLength(text) >= nl + 2 + len + 2) done(undefined, text.slice(nl + 2, nl + 2 + len));
    });
    sock.on('error', (e) => done(e));
    sock.on('close', () => done(new Error(`redis ${args[0]}: connection closed before a reply`)));
  });
}
