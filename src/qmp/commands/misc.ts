// File descriptors, QOM objects and network backends: qapi/misc.json, qapi/qom.json,
// qapi/net.json (QEMU 10.0). object-add and netdev_add are unions with dozens of
// variants; only the discriminators are typed, the rest is passed through.
import type { Empty, NoArgs } from './common.js';

export interface ObjectAddArgs {
  'qom-type': string;
  id: string;
  [property: string]: unknown;
}

export interface NetdevAddArgs {
  /** e.g. 'user', 'tap', 'socket', 'stream', 'bridge', 'vhost-user'. */
  type: string;
  id: string;
  [property: string]: unknown;
}

export interface AnnounceSelfArgs {
  initial: number;
  max: number;
  rounds: number;
  step: number;
  interfaces?: string[];
  id?: string;
}

/** One property of a QOM object; a child object is a property of type `child<TYPE>`. */
export interface ObjectPropertyInfo {
  name: string;
  type: string;
  description?: string;
}

export interface MiscCommands {
  /** The fd itself travels as SCM_RIGHTS ancillary data, which net.Socket cannot send. */
  getfd: { args: { fdname: string }; ret: Empty };
  closefd: { args: { fdname: string }; ret: Empty };
  'object-add': { args: ObjectAddArgs; ret: Empty };
  'object-del': { args: { id: string }; ret: Empty };
  'qom-set': { args: { path: string; property: string; value: unknown }; ret: Empty };
  'qom-get': { args: { path: string; property: string }; ret: unknown };
  'qom-list': { args: { path: string }; ret: ObjectPropertyInfo[] };
  'netdev_add': { args: NetdevAddArgs; ret: Empty };
  'netdev_del': { args: { id: string }; ret: Empty };
  'announce-self': { args: AnnounceSelfArgs; ret: Empty };
  'query-qmp-schema': { args: NoArgs; ret: Array<Record<string, unknown>> };
}
