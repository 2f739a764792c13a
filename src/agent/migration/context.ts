import type { LaunchContext } from '../launch.js';
import type { VmManager } from '../manager.js';
import type { DataPlane } from './data-plane.js';

/** What a migration needs from its agent. */
export interface MigrationContext {
  hostName: string;
  dataDir: string;
  mgr: VmManager;
  launch: LaunchContext;
  plane: DataPlane;
}

export const POLL_MS = 200;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
