// Public surface of `wire`: everything that crosses a wire between Ferry's components —
// API contracts, error codes, credentials and the HTTP client/server base.
export * from './vm-spec.js';
export * from './errors.js';
export * from './heartbeat.js';
export * from './vm-actions.js';
export * from './auth.js';
export * from './agent-api.js';
export * from './controller-api.js';
export * from './migration.js';
export * from './dr.js';
export * from './metrics.js';
export * from './balance.js';
export * from './web-console.js';
export * from './endpoints.js';
export * from './fence.js';
export * from './enrolment.js';
export { ApiClient, type RequestOptions } from './http-client.js';
export { createApiServer, HTTP_LIMITS, MAX_REQUEST_BYTES, type HttpLimits } from './http-server.js';
export * from './agent-routes.js';
