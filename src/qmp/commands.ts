// The typed map of QMP commands used by QmpClient.execute(): name → { args, ret }.
// Split by QAPI area under ./commands/. Shapes follow QEMU 10.0's qapi/*.json (checked
// against `query-qmp-schema`); commands missing here can be sent with executeRaw().
import type { BlockCommands } from './commands/block.js';
import type { MachineCommands } from './commands/machine.js';
import type { MigrationCommands } from './commands/migration.js';
import type { MiscCommands } from './commands/misc.js';

export interface QmpCommands extends MachineCommands, MigrationCommands, BlockCommands, MiscCommands {}

export type * from './commands/common.js';
export type * from './commands/machine.js';
export type * from './commands/migration.js';
export type * from './commands/block.js';
export type * from './commands/misc.js';
