// Types shared by several QAPI modules (qapi/sockets.json, qapi/common.json).
// Shapes checked against QEMU 10.0's query-qmp-schema.

/** Commands that take no arguments. */
export type NoArgs = undefined;
/** Commands that return `{}`. */
export type Empty = Record<string, never>;

export interface InetSocketAddress {
  host: string;
  port: string;
  numeric?: boolean;
  to?: number;
  ipv4?: boolean;
  ipv6?: boolean;
  'keep-alive'?: boolean;
  mptcp?: boolean;
}
export interface UnixSocketAddress {
  path: string;
  abstract?: boolean;
  tight?: boolean;
}
export interface VsockSocketAddress {
  cid: string;
  port: string;
}
export interface FdSocketAddress {
  /** Name of an fd passed with getfd, or a number. */
  str: string;
}

/** Flat SocketAddress (qapi/sockets.json `SocketAddress`). */
export type SocketAddress =
  | ({ type: 'inet' } & InetSocketAddress)
  | ({ type: 'unix' } & UnixSocketAddress)
  | ({ type: 'vsock' } & VsockSocketAddress)
  | ({ type: 'fd' } & FdSocketAddress);

/** Legacy SocketAddress with a `data` wrapper (qapi/sockets.json `SocketAddressLegacy`). */
export type SocketAddressLegacy =
  | { type: 'inet'; data: InetSocketAddress }
  | { type: 'unix'; data: UnixSocketAddress }
  | { type: 'vsock'; data: VsockSocketAddress }
  | { type: 'fd'; data: FdSocketAddress };

export type IoStatus = 'ok' | 'failed' | 'nospace';
