// Route-level schemas shared by the API modules: path params, queries, and the error responses
// every route can give. Bodies and replies are the wire schemas themselves, so validation, the
// TypeScript types and the OpenAPI document all come from one definition.
import { Type } from '@sinclair/typebox';
import { ApiErrorBody } from '../../wire/errors.js';

export const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }) });
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
export const EmptyBody = Type.Object({}, { additionalProperties: false });
export const TasksQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }, { additionalProperties: false });
export const ConsoleQuery = Type.Object(
  { tailBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 * 1024 * 1024 })) },
  { additionalProperties: false },
);
export const HeartbeatReply = Type.Object({ intervalMs: Type.Integer() });

/** Error replies; `default` documents them once per route in the OpenAPI document. */
export const errorReplies = {
  '4xx': ApiErrorBody,
  '5xx': ApiErrorBody,
};

export const DEFAULT_TASK_LIMIT = 50;
