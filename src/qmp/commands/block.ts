// Block layer commands: qapi/block-core.json, qapi/block-export.json, qapi/block.json,
// qapi/transaction.json (QEMU 10.0). blockdev-add is a union over ~40 drivers; only the
// common members are typed and driver options pass through.
import type { Empty, IoStatus, NoArgs, SocketAddress, SocketAddressLegacy } from './common.js';

export interface BlockDeviceTimedStats {
  interval_length: number;
  min_rd_latency_ns: number;
  max_rd_latency_ns: number;
  avg_rd_latency_ns: number;
  min_wr_latency_ns: number;
  max_wr_latency_ns: number;
  avg_wr_latency_ns: number;
  min_flush_latency_ns: number;
  max_flush_latency_ns: number;
  avg_flush_latency_ns: number;
  avg_rd_queue_depth: number;
  avg_wr_queue_depth: number;
  [key: string]: number;
}

export interface BlockDeviceStats {
  rd_bytes: number;
  wr_bytes: number;
  unmap_bytes: number;
  rd_operations: number;
  wr_operations: number;
  flush_operations: number;
  unmap_operations: number;
  rd_total_time_ns: number;
  wr_total_time_ns: number;
  flush_total_time_ns: number;
  unmap_total_time_ns: number;
  wr_highest_offset: number;
  rd_merged: number;
  wr_merged: number;
  unmap_merged: number;
  idle_time_ns?: number;
  failed_rd_operations: number;
  failed_wr_operations: number;
  failed_flush_operations: number;
  failed_unmap_operations: number;
  invalid_rd_operations: number;
  invalid_wr_operations: number;
  invalid_flush_operations: number;
  invalid_unmap_operations: number;
  account_invalid: boolean;
  account_failed: boolean;
  timed_stats: BlockDeviceTimedStats[];
  /** zone_append_*, *_latency_histogram and others. */
  [key: string]: unknown;
}

export interface BlockStats {
  device?: string;
  qdev?: string;
  'node-name'?: string;
  stats: BlockDeviceStats;
  'driver-specific'?: { driver: string; [key: string]: unknown };
  parent?: BlockStats;
  backing?: BlockStats;
}

export interface BlockDirtyInfo {
  name?: string;
  count: number;
  granularity: number;
  recording: boolean;
  busy: boolean;
  persistent: boolean;
  inconsistent?: boolean;
}

export interface ImageInfo {
  filename: string;
  format: string;
  'dirty-flag'?: boolean;
  'actual-size'?: number;
  'virtual-size': number;
  'cluster-size'?: number;
  encrypted?: boolean;
  compressed?: boolean;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  snapshots?: Array<Record<string, unknown>>;
  'format-specific'?: { type: string; data: Record<string, unknown> };
  'backing-image'?: ImageInfo;
}

export interface BlockDeviceInfo {
  file: string;
  'node-name'?: string;
  ro: boolean;
  drv: string;
  backing_file?: string;
  backing_file_depth: number;
  active: boolean;
  encrypted: boolean;
  detect_zeroes: 'off' | 'on' | 'unmap';
  bps: number;
  bps_rd: number;
  bps_wr: number;
  iops: number;
  iops_rd: number;
  iops_wr: number;
  image: ImageInfo;
  cache: { writeback: boolean; direct: boolean; 'no-flush': boolean };
  write_threshold: number;
  'dirty-bitmaps'?: BlockDirtyInfo[];
  /** bps_max, iops_*_max_length, group, … */
  [key: string]: unknown;
}

export interface BlockInfo {
  device: string;
  qdev?: string;
  type: string;
  removable: boolean;
  locked: boolean;
  inserted?: BlockDeviceInfo;
  tray_open?: boolean;
  'io-status'?: IoStatus;
}

export type JobStatus =
  | 'undefined'
  | 'created'
  | 'running'
  | 'paused'
  | 'ready'
  | 'standby'
  | 'waiting'
  | 'pending'
  | 'aborting'
  | 'concluded'
  | 'null';

export interface BlockJobInfo {
  type: 'commit' | 'stream' | 'mirror' | 'backup' | 'create' | 'amend' | 'snapshot-load' | 'snapshot-save' | 'snapshot-delete';
  /** The job id (named `device` for historical reasons). */
  device: string;
  len: number;
  offset: number;
  busy: boolean;
  paused: boolean;
  speed: number;
  'io-status': IoStatus;
  ready: boolean;
  status: JobStatus;
  'auto-finalize': boolean;
  'auto-dismiss': boolean;
  error?: string;
  /** mirror jobs only */
  'actively-synced'?: boolean;
}

export type MirrorSyncMode = 'top' | 'full' | 'none' | 'incremental' | 'bitmap';
export type BlockdevOnError = 'report' | 'ignore' | 'enospc' | 'stop' | 'auto';

export interface BlockdevAddArgs {
  driver: string;
  'node-name'?: string;
  discard?: 'ignore' | 'unmap';
  cache?: { direct?: boolean; 'no-flush'?: boolean };
  active?: boolean;
  'read-only'?: boolean;
  'auto-read-only'?: boolean;
  'force-share'?: boolean;
  'detect-zeroes'?: 'off' | 'on' | 'unmap';
  /** Driver-specific options, e.g. `filename`, `file`, `server`, `export`. */
  [option: string]: unknown;
}

export interface BlockdevMirrorArgs {
  'job-id'?: string;
  device: string;
  target: string;
  replaces?: string;
  sync: MirrorSyncMode;
  speed?: number;
  granularity?: number;
  'buf-size'?: number;
  'on-source-error'?: BlockdevOnError;
  'on-target-error'?: BlockdevOnError;
  'filter-node-name'?: string;
  'copy-mode'?: 'background' | 'write-blocking';
  'auto-finalize'?: boolean;
  'auto-dismiss'?: boolean;
}

export interface BlockdevBackupArgs {
  'job-id'?: string;
  device: string;
  target: string;
  sync: MirrorSyncMode;
  speed?: number;
  bitmap?: string;
  'bitmap-mode'?: 'on-success' | 'never' | 'always';
  compress?: boolean;
  'on-source-error'?: BlockdevOnError;
  'on-target-error'?: BlockdevOnError;
  'auto-finalize'?: boolean;
  'auto-dismiss'?: boolean;
  'filter-node-name'?: string;
  'discard-source'?: boolean;
  'x-perf'?: { 'use-copy-range'?: boolean; 'max-workers'?: number; 'max-chunk'?: number; 'min-cluster-size'?: number };
}

export interface BlockDirtyBitmapAddArgs {
  node: string;
  name: string;
  granularity?: number;
  persistent?: boolean;
  disabled?: boolean;
}
export interface BlockDirtyBitmap {
  node: string;
  name: string;
}
export interface BlockDirtyBitmapMergeArgs {
  node: string;
  target: string;
  bitmaps: Array<string | BlockDirtyBitmap>;
}

export type TransactionAction =
  | { type: 'abort'; data: Empty }
  | { type: 'block-dirty-bitmap-add'; data: BlockDirtyBitmapAddArgs }
  | { type: 'block-dirty-bitmap-remove' | 'block-dirty-bitmap-clear' | 'block-dirty-bitmap-enable' | 'block-dirty-bitmap-disable'; data: BlockDirtyBitmap }
  | { type: 'block-dirty-bitmap-merge'; data: BlockDirtyBitmapMergeArgs }
  | { type: 'blockdev-backup'; data: BlockdevBackupArgs }
  | { type: 'blockdev-snapshot'; data: { node: string; overlay: string } }
  | { type: 'blockdev-snapshot-sync' | 'blockdev-snapshot-internal-sync' | 'drive-backup'; data: Record<string, unknown> };

export interface NbdServerStartArgs {
  addr: SocketAddressLegacy;
  'handshake-max-seconds'?: number;
  'tls-creds'?: string;
  'tls-authz'?: string;
  'max-connections'?: number;
}

interface BlockExportCommon {
  id: string;
  'node-name': string;
  'fixed-iothread'?: boolean;
  iothread?: string;
  writable?: boolean;
  writethrough?: boolean;
  'allow-inactive'?: boolean;
}
export type BlockExportAddArgs =
  | (BlockExportCommon & {
      type: 'nbd';
      name?: string;
      description?: string;
      bitmaps?: Array<string | BlockDirtyBitmap>;
      'allocation-depth'?: boolean;
    })
  | (BlockExportCommon & { type: 'vhost-user-blk'; addr: SocketAddress; 'logical-block-size'?: number; 'num-queues'?: number })
  | (BlockExportCommon & { type: 'fuse'; mountpoint: string; growable?: boolean; 'allow-other'?: 'off' | 'on' | 'auto' })
  | (BlockExportCommon & { type: 'vduse-blk'; name: string; [option: string]: unknown });

export interface BlockCommands {
  'query-block': { args: NoArgs; ret: BlockInfo[] };
  'query-blockstats': { args: { 'query-nodes'?: boolean } | NoArgs; ret: BlockStats[] };
  'blockdev-add': { args: BlockdevAddArgs; ret: Empty };
  'blockdev-del': { args: { 'node-name': string }; ret: Empty };
  'blockdev-mirror': { args: BlockdevMirrorArgs; ret: Empty };
  'blockdev-backup': { args: BlockdevBackupArgs; ret: Empty };
  'block-job-cancel': { args: { device: string; force?: boolean }; ret: Empty };
  'block-job-complete': { args: { device: string }; ret: Empty };
  'query-block-jobs': { args: NoArgs; ret: BlockJobInfo[] };
  'block-dirty-bitmap-add': { args: BlockDirtyBitmapAddArgs; ret: Empty };
  'block-dirty-bitmap-remove': { args: BlockDirtyBitmap; ret: Empty };
  'block-dirty-bitmap-clear': { args: BlockDirtyBitmap; ret: Empty };
  'block-dirty-bitmap-merge': { args: BlockDirtyBitmapMergeArgs; ret: Empty };
  transaction: { args: { actions: TransactionAction[]; properties?: { 'completion-mode'?: 'individual' | 'grouped' } }; ret: Empty };
  'nbd-server-start': { args: NbdServerStartArgs; ret: Empty };
  'nbd-server-stop': { args: NoArgs; ret: Empty };
  'block-export-add': { args: BlockExportAddArgs; ret: Empty };
  'block-export-del': { args: { id: string; mode?: 'safe' | 'hard' }; ret: Empty };
}

/** Data of BLOCK_JOB_READY, BLOCK_JOB_COMPLETED and BLOCK_JOB_CANCELLED (`error` on COMPLETED only, when it failed). */
export interface BlockJobEventData {
  type: BlockJobInfo['type'];
  /** The job id. */
  device: string;
  len: number;
  offset: number;
  speed: number;
  error?: string;
}

/** Data of JOB_STATUS_CHANGE: every job's status transitions (`null` once dismissed). */
export interface JobStatusChangeEventData {
  id: string;
  status: JobStatus;
}
