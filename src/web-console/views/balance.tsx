// Balancer: the current imbalance (with a live chart over this session), each host's load,
// volume and hotness by the k-of-n rule, auto mode on/off and the policy, a plan on demand and
// a confirmed apply, and the decision log with the reasons. The status is re-read every 5 s
// while the view is shown and whenever the balancer decides something.
import { effect, signal } from '@preact/signals';
import { useEffect, useState } from 'preact/hooks';
import type { BalanceConfig, BalanceConfigPatch, BalanceStatus, HostBalance } from '../../contracts/balance.js';
import { api, API } from '../api.js';
import { BalancePlanPanel } from '../components/balance-plan.js';
import { Chart } from '../components/chart.js';
import { Badge } from '../components/badge.js';
import { Meter } from '../components/balance-meter.js';
import { duration, pct } from '../../contracts/format.js';
import { onEvent } from '../events.js';
import { href } from '../router.js';
import * as store from '../store.js';

const POLL_MS = 5000;

/** Imbalance over this session: one point per status the console has seen. */
const imbalance = signal<{ t: number[]; v: number[] }>({ t: [], v: [] });
effect(() => {
  const s = store.balance.value;
  if (!s) return;
  const h = imbalance.peek();
  const keep = <T,>(xs: T[], x: T): T[] => [...(xs.length >= store.HISTORY_POINTS ? xs.slice(1) : xs), x];
  imbalance.value = { t: keep(h.t, Date.now() / 1000), v: keep(h.v, s.imbalance) };
});

let pending: Promise<void> | undefined;
function refresh(): Promise<void> {
  pending ??= api.get<BalanceStatus>(`${API}/balance`).then(
    (s) => {
      store.balance.value = s;
      pending = undefined;
    },
    () => (pending = undefined),
  );
  return pending;
}

function LoadBar({ host, what, value, threshold }: { host: string; what: string; value: number; threshold: number }) {
  return (
    <div class="balance-load">
      <span class="balance-load-name">{what}</span>
      <Meter fraction={value} label={`${what} of ${host}`} valueText={pct(value, 1) ?? '–'} {...(value > threshold ? { tone: 'bad' as const } : {})} />
      <span class="num">{pct(value, 1)}</span>
    </div>
  );
}

function HostCard({ h, threshold }: { h: HostBalance; threshold: number }) {
  return (
    <li class={`panel balance-host${h.hot ? ' is-hot' : ''}`}>
      <div class="row">
        <strong>{h.name}</strong>
        <span class="muted">{h.site}</span>
        {!h.up && <Badge state="down" label="Host" />}
        {h.hot && <Badge state="hot" label="Hotspot">HOT</Badge>}
        <span class="spacer" />
        <span class="muted">{h.vms} VM{h.vms === 1 ? '' : 's'}</span>
      </div>
      <LoadBar host={h.name} what="CPU" value={h.load.cpu} threshold={threshold} />
      <LoadBar host={h.name} what="Net" value={h.load.net} threshold={threshold} />
      <LoadBar host={h.name} what="Mem" value={h.load.mem} threshold={threshold} />
      <div class="row balance-host-foot">
        <span>Volume <strong class="num">{h.volume.toFixed(2)}</strong></span>
        <span title="Samples over the threshold among the last n">Over threshold <strong class={h.hot ? 'bad' : ''}>{h.overThreshold}/{h.samples}</strong></span>
      </div>
    </li>
  );
}

function AutoToggle({ config }: { config: BalanceConfig }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const toggle = async (): Promise<void> => {
    setBusy(true);
    try {
      const patch: BalanceConfigPatch = { auto: !config.auto };
      const c = await api.put<BalanceConfig>(`${API}/balance/config`, patch);
      const s = store.balance.peek();
      if (s) store.balance.value = { ...s, config: c };
      setError(undefined);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="row">
      <button type="button" class={`toggle${config.auto ? ' on' : ''}`} aria-pressed={config.auto} onClick={() => void toggle()} disabled={busy} data-testid="balance-auto">
        Auto mode: <strong>{config.auto ? 'on' : 'off'}</strong>
      </button>
      <span class="muted">{config.auto ? `plans every ${duration(config.intervalMs)} and carries the plan out` : 'moves nothing by itself; plan and apply by hand'}</span>
      {error && <span class="error" role="alert">{error}</span>}
    </div>
  );
}

function Policy({ config }: { config: BalanceConfig }) {
  const p = config.policy;
  return (
    <p class="balance-policy">
      Policy: <strong>{p.mode}</strong> mode; a host is hot when CPU, net or memory exceeds <strong>{pct(p.threshold, 1)}</strong> in <strong>{p.k} of its last {p.n}</strong> samples of {duration(config.sampleMs)};
      at most {p.maxMoves} move{p.maxMoves === 1 ? '' : 's'} a plan, {config.maxConcurrent} at once; a VM rests {duration(p.cooldownMs)} after a move; CPU overcommit ×{p.cpuOvercommit}, {p.reserveMiB} MiB reserved per host
      {p.rules.length > 0 && <>; {p.rules.length} placement rule{p.rules.length === 1 ? '' : 's'}</>}.
    </p>
  );
}

function Decisions() {
  const ds = store.decisions.value;
  return (
    <section class="panel" aria-labelledby="balance-decisions-title">
      <h2 id="balance-decisions-title">Decisions</h2>
      <div class="table-wrap balance-decisions" data-testid="balance-decisions" aria-live="polite">
        {ds.length === 0 ? (
          <p class="muted">The balancer has decided nothing yet.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Trigger</th>
                <th scope="col">Kind</th>
                <th scope="col">VM</th>
                <th scope="col">From → to</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {ds.map((d) => (
                <tr key={d.id}>
                  <td>{new Date(d.at).toLocaleTimeString()}</td>
                  <td>{d.trigger}</td>
                  <td><Badge state={`decision-${d.kind}`}>{d.kind}</Badge></td>
                  <td>{d.vm ? <a href={href({ view: 'vm', name: d.vm })}>{d.vm}</a> : '–'}</td>
                  <td>{d.from && d.to ? `${d.from} → ${d.to}` : '–'}</td>
                  <td>{d.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </section>
  );
}

export function BalanceView() {
  useEffect(() => {
    void refresh();
    const poll = setInterval(() => void refresh(), POLL_MS);
    const off = onEvent((e) => {
      if (e.type === 'balance.decision') void refresh();
    });
    return () => {
      clearInterval(poll);
      off();
    };
  }, []);
  const s = store.balance.value;
  const h = imbalance.value;
  if (!s) return <section><h1>Balancer</h1><p class="muted">Loading…</p></section>;
  const threshold = s.config.policy.threshold;
  return (
    <section class="balance" aria-labelledby="balance-title">
      <h1 id="balance-title">Balancer</h1>
      <div class="balance-top">
        <section class="panel" aria-labelledby="balance-imbalance-title">
          <h2 id="balance-imbalance-title">Imbalance <strong class="balance-imbalance num" aria-live="polite">{s.imbalance.toFixed(3)}</strong></h2>
          <p class="muted">Spread (standard deviation) of host volumes within each site, summed; 0 is perfectly even.</p>
          <Chart title="Imbalance this session" t={h.t} series={[{ label: 'imbalance', values: h.v, color: '#0b5394', format: (v) => v.toFixed(3) }]} height={120} />
        </section>
        <section class="panel" aria-labelledby="balance-mode-title">
          <h2 id="balance-mode-title">Mode</h2>
          <AutoToggle config={s.config} />
          <Policy config={s.config} />
          {s.running.length > 0 && (
            <p>Moving now: {s.running.map((m) => `${m.vm} ${m.from} → ${m.to}`).join('; ')}.</p>
          )}
          {s.powerOff.length > 0 && <p>Power-off candidates: {s.powerOff.join(', ')}.</p>}
        </section>
      </div>
      <h2>Hosts</h2>
      <ul class="balance-hosts">
        {[...s.hosts].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true })).map((host) => <HostCard key={host.name} h={host} threshold={threshold} />)}
      </ul>
      <BalancePlanPanel />
      <Decisions />
    </section>
  );
}
