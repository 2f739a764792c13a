// node migrate.mjs SRC.qmp DST.qmp URI MODE OUT.json
// MODE: explicit  = QEMU defaults (auto announce after incoming) + announce-self at commit (what Ferry does)
//       auto      = QEMU's automatic post-migration announce only
//       none      = target announce-rounds=0 and no announce-self
import { qmp } from './qmp.mjs';
import { writeFileSync } from 'node:fs';
const [srcP, dstP, uri, mode, out] = process.argv.slice(2);
const src = await qmp(srcP), dst = await qmp(dstP);
const r = { mode, uri };
await dst.cmd('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
if (mode === 'none') await dst.cmd('migrate-set-parameters', { 'announce-rounds': 0 });
await dst.cmd('migrate-incoming', { uri });
await src.cmd('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
await src.cmd('migrate-set-parameters', { 'max-bandwidth': 1 << 30, 'downtime-limit': 300 });
r.tStart = Date.now();
await src.cmd('migrate', { uri });
let info;
for (;;) {
  info = await src.cmd('query-migrate');
  if (info.status === 'completed' || info.status === 'failed') break;
  await new Promise((res) => setTimeout(res, 20));
}
r.tCompletedSeen = Date.now();
for (;;) { const st = await dst.cmd('query-status'); if (st.status === 'running') break; await new Promise((res) => setTimeout(res, 10)); }
r.tTargetRunningSeen = Date.now();
if (mode === 'explicit') { await dst.cmd('announce-self', { initial: 50, max: 550, rounds: 5, step: 100 }); r.tAnnounce = Date.now(); }
await new Promise((res) => setTimeout(res, 200));
info = await src.cmd('query-migrate'); // total-time can read 0 exactly at completion: ask again
r.status = info.status; r.downtimeMs = info.downtime; r.totalMs = info['total-time']; r.ramBytes = info.ram?.transferred;
r.srcStop = src.events.find((e) => e.event === 'STOP')?.t;
r.dstResume = dst.events.find((e) => e.event === 'RESUME')?.t;
r.pausedWallMs = r.dstResume && r.srcStop ? r.dstResume - r.srcStop : null;
await src.cmd('quit').catch(() => {}); r.tSrcQuit = Date.now();
src.close(); dst.close();
writeFileSync(out, JSON.stringify(r, null, 1)); console.log(JSON.stringify(r));
