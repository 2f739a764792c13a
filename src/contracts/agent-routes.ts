// The agent API as one table: each route's method, URL (Fastify syntax), the schemas its
// request is validated against, and the schema of its 2xx reply. Documented in agent-api.ts,
// migration.ts and dr.ts; served by the agent (src/agent/api.ts, migration/routes.ts,
// dr/routes.ts) and by the controller's fake agent (src/testing/controller/fake-agent.ts), so a
// controller test cannot pass against a contract the real agent refuses.
import { Type, type TSchema } from '@sinclair/typebox';
import { AGENT_API_PREFIX, CloneRequest, ForwardRequest, HostInfo, ProbeRequest, ProbeResult, ResizeRequest, StopRequest } from './agent-api.js';
import { CheckpointProgress, ReceiveCheckpointRequest, RestoreRequest, ScrubReport, SendCheckpointRequest, StoredCheckpoint } from './dr.js';
import { GuestHealth } from './guest-health.js';
import { AgentImportRequest, AgentReceiveImageRequest, AgentSendImageRequest, HeldImages, ImageIdParams, ImageJobProgress } from './images.js';
import { AbortMigrationRequest, IncomingMigrationRequest, MeasureRequest, MeasureResult, MigrationProgress, OutgoingMigrationRequest } from './migration.js';
import { VM_NAME_PATTERN, VmSpec, VmStatus } from './vm-spec.js';

export interface AgentRoute {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  /** As Fastify takes it: validated before the handler runs (unknown fields refused). */
  schema: { params?: TSchema; querystring?: TSchema; body?: TSchema };
  /** What a 2xx answer carries: JSON of this schema, `text` (text/plain), or `none` (204). */
  reply: TSchema | 'text' | 'none';
}

/** The most of a VM's serial console one request returns. */
export const MAX_CONSOLE_TAIL_BYTES = 1024 * 1024;

/** Actions on a VM that take no arguments (`{}` or no body at all). */
export const AGENT_SIMPLE_ACTIONS = ['start', 'pause', 'resume', 'suspend', 'restore'] as const;
export type AgentSimpleAction = (typeof AGENT_SIMPLE_ACTIONS)[number];

export const VmNameParams = Type.Object({ name: Type.String({ pattern: VM_NAME_PATTERN }) });
export const ConsoleQuery = Type.Object({ tailBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_CONSOLE_TAIL_BYTES })) }, { additionalProperties: false });
/** A migration or checkpoint job id. */
export const JobIdParams = Type.Object({ id: Type.String({ minLength: 8, maxLength: 64 }) });
export const StoreVmParams = Type.Object({ vm: Type.String({ pattern: VM_NAME_PATTERN }) });
/** `{}` or no body at all. */
export const EmptyBody = Type.Optional(Type.Object({}, { additionalProperties: false }));
export const StoreFreed = Type.Object({ freedBytes: Type.Number() });

const P = AGENT_API_PREFIX;
const vmAction = (action: string, body?: TSchema, reply: TSchema = VmStatus) =>
  ({ method: 'POST', url: `${P}/vms/:name/${action}`, schema: { params: VmNameParams, ...(body ? { body } : {}) }, reply }) as const;

/** No body schema: a simple action takes `{}` or nothing. */
const SIMPLE = {
  start: vmAction('start'),
  pause: vmAction('pause'),
  resume: vmAction('resume'),
  suspend: vmAction('suspend'),
  restore: vmAction('restore'),
} satisfies Record<AgentSimpleAction, AgentRoute>;

export const AGENT_ROUTES = {
  host: { method: 'GET', url: `${P}/host`, schema: {}, reply: HostInfo },
  listVms: { method: 'GET', url: `${P}/vms`, schema: {}, reply: Type.Array(VmStatus) },
  define: { method: 'POST', url: `${P}/vms`, schema: { body: VmSpec }, reply: VmStatus },
  get: { method: 'GET', url: `${P}/vms/:name`, schema: { params: VmNameParams }, reply: VmStatus },
  remove: { method: 'DELETE', url: `${P}/vms/:name`, schema: { params: VmNameParams }, reply: 'none' },
  ...SIMPLE,
  stop: vmAction('stop', Type.Optional(StopRequest)),
  resize: vmAction('resize', ResizeRequest),
  clone: vmAction('clone', CloneRequest),
  console: { method: 'GET', url: `${P}/vms/:name/console`, schema: { params: VmNameParams, querystring: ConsoleQuery }, reply: 'text' },
  probe: vmAction('probe', ProbeRequest, ProbeResult),
  forward: vmAction('forwards', ForwardRequest),
  health: { method: 'GET', url: `${P}/vms/:name/health`, schema: { params: VmNameParams }, reply: GuestHealth },

  measure: { method: 'POST', url: `${P}/migrations/measure`, schema: { body: MeasureRequest }, reply: MeasureResult },
  incoming: { method: 'POST', url: `${P}/migrations/incoming`, schema: { body: IncomingMigrationRequest }, reply: MigrationProgress },
  outgoing: { method: 'POST', url: `${P}/migrations/outgoing`, schema: { body: OutgoingMigrationRequest }, reply: MigrationProgress },
  migration: { method: 'GET', url: `${P}/migrations/:id`, schema: { params: JobIdParams }, reply: MigrationProgress },
  commitMigration: { method: 'POST', url: `${P}/migrations/:id/commit`, schema: { params: JobIdParams, body: EmptyBody }, reply: MigrationProgress },
  abortMigration: { method: 'POST', url: `${P}/migrations/:id/abort`, schema: { params: JobIdParams, body: AbortMigrationRequest }, reply: MigrationProgress },

  drReceive: { method: 'POST', url: `${P}/dr/receive`, schema: { body: ReceiveCheckpointRequest }, reply: CheckpointProgress },
  drSend: { method: 'POST', url: `${P}/dr/send`, schema: { body: SendCheckpointRequest }, reply: CheckpointProgress },
  drJob: { method: 'GET', url: `${P}/dr/jobs/:id`, schema: { params: JobIdParams }, reply: CheckpointProgress },
  drAbort: { method: 'POST', url: `${P}/dr/jobs/:id/abort`, schema: { params: JobIdParams, body: EmptyBody }, reply: CheckpointProgress },
  drStored: { method: 'GET', url: `${P}/dr/store/:vm`, schema: { params: StoreVmParams }, reply: Type.Array(StoredCheckpoint) },
  drDeleteStore: { method: 'DELETE', url: `${P}/dr/store/:vm`, schema: { params: StoreVmParams }, reply: StoreFreed },
  drRestore: { method: 'POST', url: `${P}/dr/restore`, schema: { body: RestoreRequest }, reply: VmStatus },
  drScrub: { method: 'POST', url: `${P}/dr/scrub`, schema: { body: EmptyBody }, reply: ScrubReport },

  imagesHeld: { method: 'GET', url: `${P}/images`, schema: {}, reply: HeldImages },
  imageImport: { method: 'POST', url: `${P}/images/import`, schema: { body: AgentImportRequest }, reply: ImageJobProgress },
  imageSend: { method: 'POST', url: `${P}/images/send`, schema: { body: AgentSendImageRequest }, reply: ImageJobProgress },
  imageReceive: { method: 'POST', url: `${P}/images/receive`, schema: { body: AgentReceiveImageRequest }, reply: ImageJobProgress },
  imageJob: { method: 'GET', url: `${P}/images/jobs/:id`, schema: { params: JobIdParams }, reply: ImageJobProgress },
  imageJobAbort: { method: 'POST', url: `${P}/images/jobs/:id/abort`, schema: { params: JobIdParams, body: EmptyBody }, reply: ImageJobProgress },
  imageRemove: { method: 'DELETE', url: `${P}/images/:imageId`, schema: { params: ImageIdParams }, reply: 'none' },
} as const satisfies Record<string, AgentRoute>;

export type AgentRouteName = keyof typeof AGENT_ROUTES;
