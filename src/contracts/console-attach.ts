// An interactive serial console over one HTTP connection (`ferry vm console VM --attach`): the
// client sends a GET with `Connection: Upgrade`, `Upgrade: ferry-console` and its bearer token;
// on `101 Switching Protocols` the connection carries the guest's serial port both ways, raw.
// The controller's route (/api/v1/vms/:name/console/attach, admin token) forwards to the agent
// of the host the VM runs on now (/agent/v1/vms/:name/console/attach, cluster secret), which
// joins it to QEMU's console socket. One attach per VM at a time (QEMU serves one client).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

export const CONSOLE_UPGRADE = 'ferry-console';
/** The byte that ends an attach in the CLI: Ctrl-] (as telnet). */
export const CONSOLE_ESCAPE = 0x1d;

export const attachPath = (prefix: string, vm: string): string => `${prefix}/vms/${encodeURIComponent(vm)}/console/attach`;

/** The VM name of an attach request under `prefix`, or undefined when the URL is not one. */
export function attachTarget(req: IncomingMessage, prefix: string): string | undefined {
  const m = new RegExp(`^${prefix}/vms/([a-z][a-z0-9-]{0,62})/console/attach$`).exec((req.url ?? '').split('?')[0] ?? '');
  return m?.[1];
}

/** Answers an upgrade request with an HTTP error and closes it. */
export function refuseUpgrade(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  socket.end(`HTTP/1.1 ${status} ${code}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export function acceptUpgrade(socket: Duplex): void {
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${CONSOLE_UPGRADE}\r\nConnection: Upgrade\r\n\r\n`);
}

/** Joins two byte streams both ways; either end closing or failing closes the other. */
export function splice(a: Duplex, b: Duplex): void {
  const end = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end).on('close', end);
  b.on('error', end).on('close', end);
  a.pipe(b);
  b.pipe(a);
}
