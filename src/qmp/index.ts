// Public surface of the QMP client. Everything else in src/qmp is internal.
export { QmpClient } from './client.js';
export type { QmpEvent, QmpGreeting, WaitForEventOptions } from './client.js';
export type { QmpCallOptions } from './call.js';
export {
  QmpError,
  QmpTimeoutError,
  QmpAbortedError,
  QmpDisconnectedError,
  QmpCommandError,
  QmpProtocolError,
  QmpConnectError,
} from './errors.js';
export type { QmpErrorCode } from './errors.js';
export { DEFAULT_TIMEOUT_MS, MAX_LINE_BYTES } from './constants.js';
export type * from './commands.js';
