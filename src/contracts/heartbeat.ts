// The demo guest's heartbeat, one line a second on its serial console (guest/README.md):
//   ferry-heartbeat seq=N bad=M [key=value …]
// `seq` counts seconds of guest run time, `bad` counts memory pages that failed the guest's
// own re-check. Only complete lines count: a console read can end mid-line.

export interface Heartbeat {
  seq: number;
  bad: number;
  /** Every key=value on the line (seq and bad included), e.g. dirtied_mib, disk, set_mib. */
  fields: Record<string, string>;
}

const MARK = 'ferry-heartbeat ';

/** One line (the marker may follow other output on it, e.g. firmware text). */
export function parseHeartbeatLine(line: string): Heartbeat | undefined {
  const i = line.indexOf(MARK);
  if (i < 0) return undefined;
  const fields: Record<string, string> = {};
  for (const tok of line.slice(i + MARK.length).trim().split(/\s+/)) {
    const eq = tok.indexOf('=');
    if (eq > 0) fields[tok.slice(0, eq)] = tok.slice(eq + 1);
  }
  const seq = Number(fields.seq);
  const bad = Number(fields.bad);
  if (fields.seq === undefined || fields.bad === undefined || !Number.isInteger(seq) || !Number.isInteger(bad)) return undefined;
  return { seq, bad, fields };
}

/** Every heartbeat on the complete lines of a console text, in order. */
export function parseHeartbeats(text: string): Heartbeat[] {
  const out: Heartbeat[] = [];
  const lines = text.split('\n');
  lines.pop(); // the last piece has no newline yet (or is empty)
  for (const line of lines) {
    const hb = parseHeartbeatLine(line);
    if (hb) out.push(hb);
  }
  return out;
}

export function lastHeartbeat(text: string): Heartbeat | undefined {
  return parseHeartbeats(text).at(-1);
}
