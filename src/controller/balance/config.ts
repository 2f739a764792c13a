// The balancer's config: defaults, and a patch merged into the current one and checked as a
// whole (a patch that leaves k > n is refused, naming the field).
import { Value } from '@sinclair/typebox/value';
import { BalanceConfig, type BalanceConfigPatch } from '../../contracts/balance.js';
import { InvalidRequestError } from '../errors.js';
import { DEFAULT_POLICY } from './planner.js';

export const DEFAULT_CONFIG: BalanceConfig = {
  auto: false,
  policy: DEFAULT_POLICY,
  sampleMs: 10_000,
  intervalMs: 30_000,
  maxConcurrent: 2,
};

export function mergeConfig(current: BalanceConfig, patch: BalanceConfigPatch): BalanceConfig {
  const next: BalanceConfig = {
    ...current,
    ...(patch.auto !== undefined ? { auto: patch.auto } : {}),
    ...(patch.sampleMs !== undefined ? { sampleMs: patch.sampleMs } : {}),
    ...(patch.intervalMs !== undefined ? { intervalMs: patch.intervalMs } : {}),
    ...(patch.maxConcurrent !== undefined ? { maxConcurrent: patch.maxConcurrent } : {}),
    policy: { ...current.policy, ...(patch.policy ?? {}) },
  };
  if (next.policy.k > next.policy.n) throw new InvalidRequestError('body.policy.k', `must be at most n (${next.policy.n}), not ${next.policy.k}`);
  for (const rule of next.policy.rules) {
    if (new Set(rule.vms).size !== rule.vms.length) throw new InvalidRequestError('body.policy.rules', `a ${rule.kind} rule names a VM twice: ${rule.vms.join(', ')}`);
  }
  const err = Value.Errors(BalanceConfig, next).First();
  if (err) throw new InvalidRequestError(`body${err.path.replaceAll('/', '.')}`, err.message);
  return next;
}

/** A stored config with fields added since it was written: defaults fill the gaps. */
export function withDefaults(stored: Partial<BalanceConfig> | undefined): BalanceConfig {
  return { ...DEFAULT_CONFIG, ...(stored ?? {}), policy: { ...DEFAULT_POLICY, ...(stored?.policy ?? {}) } };
}
