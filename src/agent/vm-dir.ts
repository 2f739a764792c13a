// On-disk layout of one VM, under <dataDir>/vms/<name>/:
//   vm.json        VmRecord (spec, last known state, pid, endpoints), written atomically
//   qemu.pid       written by QEMU (-pidfile)
//   qmp.sock       QMP monitor (QEMU binds it relative to the VM dir: sun_path is 108 bytes)
//   console.sock   serial console; console.log keeps everything the guest printed
//   diskN.qcow2    disks (base-diskN.qcow2: frozen base of a linked clone)
//   suspend.state  memory image while the VM is suspended
// The agent is stateless apart from this directory, so a restarted agent re-attaches from it.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError, VM_NAME_PATTERN, type Endpoint, type VmSpec, type VmState } from '../contracts/index.js';

export type Accel = 'kvm' | 'tcg';

export interface VmRecord {
  spec: VmSpec;
  state: VmState;
  pid?: number;
  accel?: Accel;
  endpoints: Endpoint[];
  error?: string;
  /** +1 on every state change; see VmStatus.rev. */
  rev?: number;
  /** A DR test copy: its network reaches nothing outside this host (qemu-command.ts `isolated`). */
  isolated?: boolean;
}

export interface VmPaths {
  dir: string;
  record: string;
  pidFile: string;
  qmpSock: string;
  consoleSock: string;
  consoleLog: string;
  suspendState: string;
}

export function vmsRoot(dataDir: string): string {
  return join(dataDir, 'vms');
}

const VM_NAME_RE = new RegExp(VM_NAME_PATTERN);

export function vmPaths(dataDir: string, name: string): VmPaths {
  // The name becomes a path (and removeVmDir deletes it recursively): never let it leave vms/.
  if (!VM_NAME_RE.test(name)) throw new FerryError('INVALID_REQUEST', `invalid VM name '${name.slice(0, 80)}'`, { field: 'name' });
  const dir = join(vmsRoot(dataDir), name);
  return {
    dir,
    record: join(dir, 'vm.json'),
    pidFile: join(dir, 'qemu.pid'),
    qmpSock: join(dir, 'qmp.sock'),
    consoleSock: join(dir, 'console.sock'),
    consoleLog: join(dir, 'console.log'),
    suspendState: join(dir, 'suspend.state'),
  };
}

export function diskFile(dir: string, index: number): string {
  return join(dir, `disk${index}.qcow2`);
}

/** Write JSON so that a crash leaves either the old or the new file, never half of one. */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

export function saveRecord(dataDir: string, rec: VmRecord): void {
  const p = vmPaths(dataDir, rec.spec.name);
  mkdirSync(p.dir, { recursive: true });
  writeJsonAtomic(p.record, rec);
}

export function loadRecord(dataDir: string, name: string): VmRecord | undefined {
  try {
    const rec = JSON.parse(readFileSync(vmPaths(dataDir, name).record, 'utf8')) as VmRecord;
    return rec.spec?.name === name ? rec : undefined;
  } catch {
    return undefined;
  }
}

export function listVmNames(dataDir: string): string[] {
  const root = vmsRoot(dataDir);
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && VM_NAME_RE.test(d.name) && existsSync(join(root, d.name, 'vm.json')))
    .map((d) => d.name)
    .sort();
}

export function readPidFile(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function removeVmDir(dataDir: string, name: string): void {
  rmSync(vmPaths(dataDir, name).dir, { recursive: true, force: true });
}

/** The last `bytes` of a file ('' if it does not exist); whole lines are not guaranteed. */
export function readTail(path: string, bytes: number): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(bytes, size);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}
