// The agent's namespace of Ferry's one logger (src/log/logger.ts): DEBUG=ferry:agent.
import { logger } from '../log/logger.js';

export { logger as createLog, warnRateLimited } from '../log/logger.js';
export const log = logger('ferry:agent');
