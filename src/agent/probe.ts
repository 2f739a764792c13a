// Does a VM's service answer? An HTTP GET of one of its forwarded guest ports, made from this
// host (forwards listen on loopback, so only the agent can reach them). DR tests use it to check
// a restored copy serves, isolated as it is from everything else.
import { request } from 'node:http';
import { FerryError, type ProbeResult } from '../contracts/index.js';
import type { VmRuntime } from './vm-runtime.js';

const PROBE_TIMEOUT_MS = 5000;

export function probeHttp(vm: VmRuntime, guestPort: number): Promise<ProbeResult> {
  const ep = vm.rec.endpoints.find((e) => e.guestPort === guestPort);
  if (!ep) throw new FerryError('NOT_FOUND', `vm ${vm.name} forwards no guest port ${guestPort}`);
  const t0 = performance.now();
  const ms = (): number => Math.round(performance.now() - t0);
  return new Promise((resolve) => {
    const req = request({ host: ep.host, port: ep.port, path: '/', timeout: PROBE_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => resolve({ guestPort, answered: true, ...(res.statusCode !== undefined ? { status: res.statusCode } : {}), ms: ms() }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)));
    req.on('error', (err) => resolve({ guestPort, answered: false, ms: ms(), error: err.message }));
    req.end();
  });
}
