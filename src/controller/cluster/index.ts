// The cluster's records and the parts beside them, opened together over one database: what the
// controller's services are built from (index.ts), each taking only the parts it uses.
import type { Db } from '../db.js';
import { ClusterState } from '../cluster-state.js';
import type { EventBus } from '../events.js';
import { HostsRepo } from '../hosts-repo.js';
import type { TaskRunner } from '../task-runner.js';
import { VmsRepo } from '../vms-repo.js';
import { ForeignCopies } from './foreign-copies.js';
import { MoveRegistry } from './moves.js';
import { Tombstones } from './tombstones.js';
import { VmRevisions } from './vm-revisions.js';

export interface Cluster {
  state: ClusterState;
  moves: MoveRegistry;
  tombstones: Tombstones;
  revisions: VmRevisions;
  foreign: ForeignCopies;
}

export function openCluster(db: Db, runner: TaskRunner, bus: EventBus): Cluster {
  const moves = new MoveRegistry();
  const tombstones = new Tombstones();
  const revisions = new VmRevisions();
  const state = new ClusterState({ hosts: new HostsRepo(db), vms: new VmsRepo(db), runner, bus, moves, tombstones, revisions });
  return { state, moves, tombstones, revisions, foreign: new ForeignCopies() };
}
