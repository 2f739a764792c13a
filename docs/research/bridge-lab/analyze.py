import json, re, sys, os
d = sys.argv[1]
m = json.load(open(f'{d}/migrate.json')); p = json.load(open(f'{d}/probe.json'))
ts = [float(x) * 1000 for x in re.findall(r'^\[(\d+\.\d+)\] \d+ bytes from', open(f'{d}/ping.log').read(), re.M)]
gaps = sorted(((b - a, a) for a, b in zip(ts, ts[1:])), reverse=True)
ping_gap, ping_at = gaps[0] if gaps else (None, None)
def fdb(ns):
  out = []
  for l in open(f'{d}/fdb-{ns}.log'):
    if '52:54:00:77:00:10' in l: t, rest = l.split(' ', 1); out.append((int(t) - m['srcStop'] if m.get('srcStop') else t, rest.strip()))
  return out
seqs = [tuple(map(int, l.split())) for l in open(f'{d}/seqs.txt')]
s = [a for a, _ in seqs]
res = {
 'mode': m['mode'], 'status': m['status'], 'qemuDowntimeMs': m['downtimeMs'], 'totalMs': m['totalMs'],
 'pausedWallMs(STOP->RESUME)': m['pausedWallMs'],
 'pingMaxGapMs': round(ping_gap) if ping_gap else None,
 'pingGapStartRelStopMs': round(ping_at - m['srcStop']) if ping_at and m.get('srcStop') else None,
 'pingReplies': len(ts),
 'echoSurvived': p['echo']['survived'], 'echoMaxGapMs': p['echo']['maxGapMs'],
 'echoGapStartRelStopMs': p['echo']['gapAt'][0] - m['srcStop'] if p['echo']['gapAt'] and m.get('srcStop') else None,
 'echoOutOfOrder': p['echo']['outOfOrder'], 'echoLines': [p['echo']['lastEchoed'], p['echo']['lastSent']], 'echoClosed': p['echo']['closed'],
 'httpMaxGapMs': p['http']['maxGapMs'], 'httpFail': p['http']['fail'], 'httpOk': p['http']['ok'],
 'announceRelStopMs': m['tAnnounce'] - m['srcStop'] if m.get('tAnnounce') else None,
 'srcQuitRelStopMs': m['tSrcQuit'] - m['srcStop'],
 'fdbSite(msRelSrcStop)': fdb('ferry-site'),
 'fdbBefore': open(f'{d}/fdb-before.txt').read().strip(), 'fdbAfter': open(f'{d}/fdb-after.txt').read().strip(),
 'guestSeqMonotonic': all(b == a + 1 for a, b in zip(s, s[1:])), 'guestBadMax': max(b for _, b in seqs), 'lastSeq': s[-1],
}
json.dump(res, open(f'{d}/summary.json', 'w'), indent=1); print(json.dumps(res, indent=1))
