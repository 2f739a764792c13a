// Run state and machine commands: qapi/control.json, qapi/run-state.json, qapi/machine.json,
// qapi/misc.json, qapi/balloon.json (QEMU 10.0).
import type { Empty, NoArgs } from './common.js';

export type RunState =
  | 'debug'
  | 'inmigrate'
  | 'internal-error'
  | 'io-error'
  | 'paused'
  | 'postmigrate'
  | 'prelaunch'
  | 'finish-migrate'
  | 'restore-vm'
  | 'running'
  | 'save-vm'
  | 'shutdown'
  | 'suspended'
  | 'watchdog'
  | 'guest-panicked'
  | 'colo';

export interface StatusInfo {
  running: boolean;
  status: RunState;
}

export interface VersionInfo {
  qemu: { major: number; minor: number; micro: number };
  package: string;
}

export interface CpuInstanceProperties {
  'node-id'?: number;
  'drawer-id'?: number;
  'book-id'?: number;
  'socket-id'?: number;
  'die-id'?: number;
  'cluster-id'?: number;
  'module-id'?: number;
  'core-id'?: number;
  'thread-id'?: number;
}

export interface CpuInfoFast {
  'cpu-index': number;
  'qom-path': string;
  'thread-id': number;
  props?: CpuInstanceProperties;
  /** 'x86_64' here; s390x adds cpu-state etc. */
  target: string;
  [key: string]: unknown;
}

export interface MachineCommands {
  qmp_capabilities: { args: { enable?: 'oob'[] } | NoArgs; ret: Empty };
  'query-status': { args: NoArgs; ret: StatusInfo };
  stop: { args: NoArgs; ret: Empty };
  cont: { args: NoArgs; ret: Empty };
  system_powerdown: { args: NoArgs; ret: Empty };
  system_reset: { args: NoArgs; ret: Empty };
  quit: { args: NoArgs; ret: Empty };
  'query-version': { args: NoArgs; ret: VersionInfo };
  'query-name': { args: NoArgs; ret: { name?: string } };
  'query-uuid': { args: NoArgs; ret: { UUID: string } };
  'query-cpus-fast': { args: NoArgs; ret: CpuInfoFast[] };
  /** Target size of guest memory in bytes; fails with DeviceNotActive without a balloon device. */
  balloon: { args: { value: number }; ret: Empty };
  'query-balloon': { args: NoArgs; ret: { actual: number } };
  'human-monitor-command': { args: { 'command-line': string; 'cpu-index'?: number }; ret: string };
  'device_del': { args: { id: string }; ret: Empty };
}
