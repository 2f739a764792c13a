// The controller's namespaces of Ferry's one logger (src/log/logger.ts): DEBUG=ferry:controller*.
export { logger as createLog } from '../log/logger.js';
