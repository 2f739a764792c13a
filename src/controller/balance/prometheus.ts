// The balancer's gauges on the controller's /metrics: imbalance, auto mode, hosts hot by the
// k-of-n rule, moves in flight, and decisions by kind since the controller started.
import type { PrometheusEndpoint } from '../metrics/prometheus.js';
import { imbalanceOf, type BalanceService } from './service.js';

/** The balancer's gauges, for PromSources.more. */
export const balanceGauges = (balance: BalanceService) => (prom: PrometheusEndpoint): void => {
  prom.gauge('ferry_balance_imbalance', 'Spread (standard deviation) of host volumes per site, summed over sites', [], (emit) => emit({}, imbalanceOf(balance.hostBalances())));
  prom.gauge('ferry_balance_auto', '1 while auto mode is on', [], (emit) => emit({}, balance.config().auto ? 1 : 0));
  prom.gauge('ferry_balance_hot_hosts', 'Hosts hot by the k-of-n rule', [], (emit) => emit({}, balance.hostBalances().filter((h) => h.hot).length));
  prom.gauge('ferry_balance_moves_running', 'Balancing migrations in flight', [], (emit) => emit({}, balance.runningMoves().length));
  prom.counter('ferry_balance_decisions_total', 'Balancer decisions since the controller started, by kind', ['kind'], (emit) => {
    for (const [kind, n] of balance.decisionCounts()) emit({ kind }, n);
  });
};
