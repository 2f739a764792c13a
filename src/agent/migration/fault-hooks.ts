// Test hooks for the migration fault matrix, honoured only with FERRY_FAULT_HOOKS=1 (never in a
// real deployment): a file in the agent's data dir makes a step happen while its reply is lost,
// the way a cut connection or a crash right after the step would lose it.
//   <dataDir>/fault-drop-commit-reply   the commit is carried out, then the connection is dropped
//                                       without an answer (once: the file is removed).
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const DROP_COMMIT_REPLY = 'fault-drop-commit-reply';

/** True (once) if the reply to this commit is to be lost. */
export function takeDropCommitReply(dataDir: string): boolean {
  if (process.env.FERRY_FAULT_HOOKS !== '1') return false;
  const file = join(dataDir, DROP_COMMIT_REPLY);
  if (!existsSync(file)) return false;
  rmSync(file, { force: true });
  return true;
}
