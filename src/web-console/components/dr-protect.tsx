// "Protect a VM": continuous checkpoints of a VM to a host of another site, with an RPO
// (e.g. 30s, 5m; 0 for zero-loss mode), the points in time to keep, and high availability.
import { useState } from 'preact/hooks';
import type { Protection, ProtectRequest } from '../../contracts/dr.js';
import { api, API } from '../api.js';
import * as store from '../store.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30s" → 30000, "5m" → 300000, "0" → 0 (zero-loss); a bare number is seconds. */
export function parseRpo(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$/i.exec(text);
  if (!m) return undefined;
  const ms = Math.round(Number(m[1]) * UNITS[(m[2] ?? 's').toLowerCase()]!);
  return ms === 0 || ms >= 1000 ? ms : undefined;
}

export function DrProtectForm() {
  const protectedVms = new Set(store.protections.names.value);
  const vms = store.vms.values().filter((v) => !protectedVms.has(v.name));
  const sites = [...new Set(store.hosts.values().map((h) => h.site))].sort();
  const [vm, setVm] = useState('');
  const [site, setSite] = useState('');
  const [rpo, setRpo] = useState('30s');
  const [keep, setKeep] = useState('3');
  const [ha, setHa] = useState(true);
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | undefined>();

  const chosenVm = vm || vms[0]?.name || '';
  const vmSite = vms.find((v) => v.name === chosenVm)?.site;
  const drSites = sites.filter((s) => s !== vmSite);
  const chosenSite = drSites.includes(site) ? site : drSites[0] ?? '';

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const rpoMs = parseRpo(rpo);
    if (rpoMs === undefined) {
      setMsg({ ok: false, text: 'RPO: a duration such as 30s, 5m or 1h (at least 1s), or 0 for zero-loss mode.' });
      return;
    }
    const body: ProtectRequest = { vm: chosenVm, toSite: chosenSite, rpoMs, keep: Number(keep), ha };
    setBusy(true);
    try {
      const p = await api.post<Protection>(`${API}/dr/protections`, body);
      store.protections.upsert(p.vm, p);
      setMsg({ ok: true, text: `${p.vm} is protected to ${p.toSite} (${p.targetHost}); the first checkpoint is on its way.` });
      setVm('');
    } catch (err) {
      setMsg({ ok: false, text: (err as Error).message });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="panel dr-protect" onSubmit={(e) => void submit(e)} aria-labelledby="dr-protect-title">
      <h2 id="dr-protect-title">Protect a VM</h2>
      <div class="row form-row">
        <div class="field">
          <label for="dr-protect-vm">VM</label>
          <select id="dr-protect-vm" value={chosenVm} onChange={(e) => setVm((e.target as HTMLSelectElement).value)} required disabled={vms.length === 0}>
            {vms.length === 0 ? <option value="">every VM is protected</option> : vms.map((v) => <option value={v.name}>{v.name} ({v.site})</option>)}
          </select>
        </div>
        <div class="field">
          <label for="dr-protect-site">DR site</label>
          <select id="dr-protect-site" value={chosenSite} onChange={(e) => setSite((e.target as HTMLSelectElement).value)} required disabled={drSites.length === 0}>
            {drSites.length === 0 ? <option value="">no other site</option> : drSites.map((s) => <option value={s}>{s}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="dr-protect-rpo">RPO</label>
          <input id="dr-protect-rpo" class="short" value={rpo} onInput={(e) => setRpo((e.target as HTMLInputElement).value)} aria-describedby="dr-rpo-hint" required />
        </div>
        <div class="field">
          <label for="dr-protect-keep">Keep</label>
          <input id="dr-protect-keep" class="short" type="number" min={1} max={1000} value={keep} onInput={(e) => setKeep((e.target as HTMLInputElement).value)} required />
        </div>
        <label class="check">
          <input type="checkbox" checked={ha} onChange={(e) => setHa((e.target as HTMLInputElement).checked)} />
          High availability
        </label>
        <button type="submit" class="primary" disabled={busy || !chosenVm || !chosenSite}>Protect</button>
      </div>
      <p id="dr-rpo-hint" class="hint muted">
        RPO: the newest checkpoint at the DR site is never older than this (30s, 5m, 1h); 0 is zero-loss mode, where checkpoints run back to back and the guest's
        output is held until its checkpoint is safe. Keep: points in time kept at the DR site. High availability restarts the VM at the DR site if its host goes silent.
      </p>
      <div aria-live="polite">{msg && <p class={msg.ok ? 'ok' : 'error'}>{msg.text}</p>}</div>
    </form>
  );
}
