import type { LaunchContext } from './launch.js';
import type { VmManager } from './manager.js';
import type { DataPlane } from './data-plane/plane.js';

/** What the agent's drivers (migration, DR capture and restore) need from their agent. */
export interface AgentContext {
  hostName: string;
  dataDir: string;
  mgr: VmManager;
  launch: LaunchContext;
  plane: DataPlane;
}

export const POLL_MS = 200;
