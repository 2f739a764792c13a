// Why a zero-loss VM (protected with --rpo 0, Remus) is not moved by live migration. Its guest's
// output since the last committed checkpoint is held at its host in `filter-buffer`s
// (src/agent/dr/output-hold.ts). Those filters are not part of the migrated state: a migration
// would either drop what they hold or, by deleting them, release output that no committed
// checkpoint covers yet, and the target would run without holding anything until its next
// checkpoint. Read from the protections alone, so the migration service (built before the DR
// service) and the balancer ask the same question.
import type { DrRepo } from './repo.js';

/** Why a live migration of `vm` must be refused because of its DR protection, or undefined. */
export function zeroLossHold(protections: Pick<DrRepo, 'get'>, vm: string): string | undefined {
  if (protections.get(vm)?.protection.rpoMs !== 0) return undefined;
  return 'it is protected in zero-loss mode (its output is held until each checkpoint commits, and a live migration would drop or release early what is held)';
}

/** The 409 message for a manual migration: why, and what to do instead. */
export function zeroLossMigrateRefusal(vm: string, hold: string): string {
  return `cannot migrate VM ${vm}: ${hold}; to move it, unprotect it (ferry dr unprotect ${vm}), migrate it and protect it again, or move it to its DR site by a planned failover (ferry dr failover ${vm} --planned)`;
}
