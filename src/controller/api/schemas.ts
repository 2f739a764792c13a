// Route-level schemas shared by the API modules: path params, queries, and the error responses
// every route can give. Bodies and replies are the wire schemas themselves, so validation, the
// TypeScript types and the OpenAPI document all come from one definition.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ClusterStatus, Host, Task, Vm } from '../../contracts/controller-api.js';
import { ApiErrorBody } from '../../contracts/errors.js';
import { MigrationPlan, MigrationRecord } from '../../contracts/migration.js';
import { CheckpointRecord, FailoverReport, Protection, ScrubReport } from '../../contracts/dr.js';
import { ServiceEndpoint, VmLocation } from '../../contracts/endpoints.js';

/**
 * Reply schemas used by many routes are registered once by name, so the OpenAPI document
 * lists each under components.schemas instead of repeating it in every route.
 */
const SHARED = { Task, Vm, Host, ClusterStatus, ApiErrorBody, MigrationRecord, MigrationPlan, Protection, CheckpointRecord, FailoverReport, ScrubReport, ServiceEndpoint, VmLocation } as const;
export type SharedName = keyof typeof SHARED;

export function addSharedSchemas(app: FastifyInstance): void {
  for (const [name, schema] of Object.entries(SHARED)) app.addSchema({ ...schema, $id: name });
}

export const ref = (name: SharedName): { $ref: string } => ({ $ref: `${name}#` });
export const arrayOf = (name: SharedName): { type: 'array'; items: { $ref: string } } => ({ type: 'array', items: ref(name) });

export const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) });
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
export const EmptyBody = Type.Object({}, { additionalProperties: false });
export const TasksQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }, { additionalProperties: false });
export const ConsoleQuery = Type.Object(
  // The agent keeps at most 1 MiB of console output per VM.
  { tailBytes: Type.Optional(Type.Integer({ minimum: 0, maximum: 1024 * 1024 })) },
  { additionalProperties: false },
);

/** Error replies; `default` documents them once per route in the OpenAPI document. */
export const errorReplies = {
  '4xx': ref('ApiErrorBody'),
  '5xx': ref('ApiErrorBody'),
};

export const DEFAULT_TASK_LIMIT = 50;
