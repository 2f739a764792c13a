// The tail of a VM's serial console, polled every 2 s while mounted (the controller fetches it
// from whichever host runs the VM now), with the newest `ferry-heartbeat seq=N bad=M` line
// shown big above it: that is how a person sees the guest kept running and its memory intact.
// The tail follows new output unless the user has scrolled up to read.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, vmPath } from '../api.js';

export const TAIL_BYTES = 8192;
export const POLL_MS = 2000;

const HEARTBEAT = /ferry-heartbeat seq=(\d+) bad=(\d+)/;

export function lastHeartbeat(text: string): { seq: number; bad: number; line: string } | undefined {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = HEARTBEAT.exec(lines[i]!);
    if (m) return { seq: Number(m[1]), bad: Number(m[2]), line: lines[i]!.trim() };
  }
  return undefined;
}

/** Drops a cut-off first line when the tail was cut at the byte limit. */
const whole = (text: string): string => (text.length >= TAIL_BYTES && text.includes('\n') ? text.slice(text.indexOf('\n') + 1) : text);

/**
 * Joins what was shown with a newer tail. A host keeps only the output of its own QEMU, so after
 * a migration the new host's tail starts afresh: where the two do not overlap, the new output is
 * appended after the old instead of replacing it. Keeps about TAIL_BYTES.
 */
export function mergeTail(old: string, next: string): string {
  if (!old) return next;
  const a = old.split('\n');
  const b = next.split('\n');
  const first = b.find((l) => l.trim() !== '');
  let merged: string[] | undefined;
  if (first !== undefined) {
    const offset = b.indexOf(first);
    for (let i = a.lastIndexOf(first); i >= 0; i = a.lastIndexOf(first, i - 1)) {
      const rest = a.slice(i);
      // The old tail's last line may have been incomplete; compare whole lines only.
      if (rest.slice(0, -1).every((l, k) => l === b[offset + k])) {
        merged = [...a.slice(0, i), ...b.slice(offset)];
        break;
      }
      if (i === 0) break;
    }
  }
  const out = (merged ?? [...a.filter((l, i) => i < a.length - 1 || l !== ''), ...b]).join('\n');
  return out.length > TAIL_BYTES ? whole(out.slice(-TAIL_BYTES - 1)) : out;
}

export function ConsoleTail({ name }: { name: string }) {
  const [text, setText] = useState('');
  const [error, setError] = useState<string | undefined>();
  const pre = useRef<HTMLPreElement>(null);
  /** Follow new output while the user is at the bottom. */
  const follow = useRef(true);

  useEffect(() => {
    let stopped = false;
    let inFlight = false;
    const poll = async (): Promise<void> => {
      if (inFlight || document.hidden) return;
      inFlight = true;
      try {
        const t = await api.get<string>(vmPath(name, `/console?tailBytes=${TAIL_BYTES}`));
        if (!stopped) {
          setText((prev) => mergeTail(prev, whole(typeof t === 'string' ? t : '')));
          setError(undefined);
        }
      } catch (err) {
        if (!stopped) setError((err as Error).message);
      } finally {
        inFlight = false;
      }
    };
    void poll();
    const timer = setInterval(() => void poll(), POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [name]);

  useEffect(() => {
    const el = pre.current;
    if (el && follow.current) el.scrollTop = el.scrollHeight;
  }, [text]);

  const onScroll = (): void => {
    const el = pre.current;
    if (el) follow.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
  };

  const hb = lastHeartbeat(text);
  return (
    <div class="console-tail">
      <div class="heartbeat" data-testid="heartbeat">
        {hb ? (
          <>
            <span class="hb-big">
              seq <strong>{hb.seq}</strong>
            </span>
            <span class={`hb-big ${hb.bad === 0 ? 'ok' : 'bad'}`}>
              bad <strong>{hb.bad}</strong>
            </span>
            <code class="hb-line">{hb.line}</code>
          </>
        ) : (
          <span class="muted">no heartbeat line yet</span>
        )}
      </div>
      {error && <p class="error">Console: {error}</p>}
      <pre class="console" data-testid="console-tail" ref={pre} onScroll={onScroll} tabIndex={0} aria-label={`Serial console of ${name} (last ${TAIL_BYTES / 1024} KiB)`}>
        {text || ' '}
      </pre>
    </div>
  );
}
