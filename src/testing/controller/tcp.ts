// A one-line TCP client for the endpoint tests: sends a line, resolves with everything that came
// back before the connection closed ('' if nothing did: refused, reset or closed unanswered).
import { connect } from 'node:net';

export function askLine(port: number, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let got = '';
    s.on('data', (d) => (got += String(d)));
    s.on('error', () => undefined);
    s.on('close', () => resolve(got.trim()));
    s.write('hello\n');
  });
}
