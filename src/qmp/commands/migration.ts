// Live migration and dirty-rate commands: qapi/migration.json (QEMU 10.0).
import type { Empty, NoArgs, SocketAddress, InetSocketAddress } from './common.js';

export type MigrationStatus =
  | 'none'
  | 'setup'
  | 'cancelling'
  | 'cancelled'
  | 'active'
  | 'postcopy-active'
  | 'postcopy-paused'
  | 'postcopy-recover-setup'
  | 'postcopy-recover'
  | 'completed'
  | 'failed'
  | 'colo'
  | 'pre-switchover'
  | 'device'
  | 'wait-unplug';

export type MigrationCapability =
  | 'xbzrle'
  | 'rdma-pin-all'
  | 'auto-converge'
  | 'zero-blocks'
  | 'events'
  | 'postcopy-ram'
  | 'x-colo'
  | 'release-ram'
  | 'return-path'
  | 'pause-before-switchover'
  | 'multifd'
  | 'dirty-bitmaps'
  | 'postcopy-blocktime'
  | 'late-block-activate'
  | 'x-ignore-shared'
  | 'validate-uuid'
  | 'background-snapshot'
  | 'zero-copy-send'
  | 'postcopy-preempt'
  | 'switchover-ack'
  | 'dirty-limit'
  | 'mapped-ram';

export interface MigrationCapabilityStatus {
  capability: MigrationCapability;
  state: boolean;
}

/** Byte counts are bytes; rates are pages/s (dirty-pages-rate) or Mbit/s (mbps). */
export interface MigrationStats {
  transferred: number;
  remaining: number;
  total: number;
  duplicate: number;
  normal: number;
  'normal-bytes': number;
  'dirty-pages-rate': number;
  mbps: number;
  'dirty-sync-count': number;
  'postcopy-requests': number;
  'page-size': number;
  'multifd-bytes': number;
  'pages-per-second': number;
  'precopy-bytes': number;
  'downtime-bytes': number;
  'postcopy-bytes': number;
  'dirty-sync-missed-zero-copy': number;
}

export interface XbzrleCacheStats {
  'cache-size': number;
  bytes: number;
  pages: number;
  'cache-miss': number;
  'cache-miss-rate': number;
  'encoding-rate': number;
  overflow: number;
}

/** query-migrate: every field is optional; `{}` before any migration. Times are ms. */
export interface MigrationInfo {
  status?: MigrationStatus;
  ram?: MigrationStats;
  vfio?: { transferred: number };
  'xbzrle-cache'?: XbzrleCacheStats;
  'total-time'?: number;
  'expected-downtime'?: number;
  downtime?: number;
  'setup-time'?: number;
  'cpu-throttle-percentage'?: number;
  'error-desc'?: string;
  'blocked-reasons'?: string[];
  'postcopy-blocktime'?: number;
  'postcopy-vcpu-blocktime'?: number[];
  'socket-address'?: SocketAddress[];
  'dirty-limit-throttle-time-per-round'?: number;
  'dirty-limit-ring-full-time'?: number;
}

export type MigrationAddress =
  | ({ transport: 'socket' } & SocketAddress)
  | { transport: 'exec'; args: string[] }
  | ({ transport: 'rdma' } & InetSocketAddress)
  | { transport: 'file'; filename: string; offset: number };

export interface MigrationChannel {
  'channel-type': 'main' | 'cpr';
  addr: MigrationAddress;
}

export interface BitmapMigrationNodeAlias {
  'node-name': string;
  alias: string;
  bitmaps: Array<{ name: string; alias: string; transform?: { persistent?: boolean } }>;
}

/** Shared by migrate-set-parameters (all optional) and query-migrate-parameters. */
export interface MigrationParameters {
  'announce-initial'?: number;
  'announce-max'?: number;
  'announce-rounds'?: number;
  'announce-step'?: number;
  'throttle-trigger-threshold'?: number;
  'cpu-throttle-initial'?: number;
  'cpu-throttle-increment'?: number;
  'cpu-throttle-tailslow'?: boolean;
  'tls-creds'?: string;
  'tls-hostname'?: string;
  'tls-authz'?: string;
  /** bytes/s */
  'max-bandwidth'?: number;
  'avail-switchover-bandwidth'?: number;
  /** ms */
  'downtime-limit'?: number;
  'x-checkpoint-delay'?: number;
  'multifd-channels'?: number;
  'xbzrle-cache-size'?: number;
  'max-postcopy-bandwidth'?: number;
  'max-cpu-throttle'?: number;
  'multifd-compression'?: 'none' | 'zlib' | 'zstd';
  'multifd-zlib-level'?: number;
  'multifd-qatzip-level'?: number;
  'multifd-zstd-level'?: number;
  'block-bitmap-mapping'?: BitmapMigrationNodeAlias[];
  'x-vcpu-dirty-limit-period'?: number;
  'vcpu-dirty-limit'?: number;
  mode?: 'normal' | 'cpr-reboot' | 'cpr-transfer';
  'zero-page-detection'?: 'none' | 'legacy' | 'multifd';
  'direct-io'?: boolean;
}

/** The setter also accepts null for the TLS strings (meaning "reset"). */
export type MigrateSetParametersArgs = Omit<MigrationParameters, 'tls-creds' | 'tls-hostname' | 'tls-authz'> & {
  'tls-creds'?: string | null;
  'tls-hostname'?: string | null;
  'tls-authz'?: string | null;
};

export type DirtyRateMeasureMode = 'page-sampling' | 'dirty-ring' | 'dirty-bitmap';
export type TimeUnit = 'second' | 'millisecond';

export interface DirtyRateInfo {
  /** MB/s; absent until measured. */
  'dirty-rate'?: number;
  status: 'unstarted' | 'measuring' | 'measured';
  'start-time': number;
  'calc-time': number;
  'calc-time-unit': TimeUnit;
  'sample-pages': number;
  mode: DirtyRateMeasureMode;
  'vcpu-dirty-rate'?: Array<{ id: number; 'dirty-rate': number }>;
}

/** Give exactly one of `uri` and `channels`. */
export interface MigrateArgs {
  uri?: string;
  channels?: MigrationChannel[];
  /** Ignored by QEMU (migrate always runs in the background); kept for compatibility. */
  detach?: boolean;
  resume?: boolean;
}

export interface MigrateIncomingArgs {
  uri?: string;
  channels?: MigrationChannel[];
  'exit-on-error'?: boolean;
}

export interface MigrationCommands {
  migrate: { args: MigrateArgs; ret: Empty };
  'migrate-incoming': { args: MigrateIncomingArgs; ret: Empty };
  migrate_cancel: { args: NoArgs; ret: Empty };
  'migrate-start-postcopy': { args: NoArgs; ret: Empty };
  'migrate-continue': { args: { state: MigrationStatus }; ret: Empty };
  'migrate-set-capabilities': { args: { capabilities: MigrationCapabilityStatus[] }; ret: Empty };
  'query-migrate-capabilities': { args: NoArgs; ret: MigrationCapabilityStatus[] };
  'migrate-set-parameters': { args: MigrateSetParametersArgs; ret: Empty };
  'query-migrate-parameters': { args: NoArgs; ret: MigrationParameters };
  'query-migrate': { args: NoArgs; ret: MigrationInfo };
  'calc-dirty-rate': {
    args: { 'calc-time': number; 'calc-time-unit'?: TimeUnit; 'sample-pages'?: number; mode?: DirtyRateMeasureMode };
    ret: Empty;
  };
  'query-dirty-rate': { args: { 'calc-time-unit'?: TimeUnit } | NoArgs; ret: DirtyRateInfo };
}

/** Data of the MIGRATION event (needs the `events` capability): the new status. */
export interface MigrationEventData {
  status: MigrationStatus;
}

/** Data of the MIGRATION_PASS event: the dirty-sync pass that starts (1 = the first full pass). */
export interface MigrationPassEventData {
  pass: number;
}
