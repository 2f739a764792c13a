// Limits and defaults of the QMP client. Wire format: QEMU docs/interop/qmp-spec.rst —
// one JSON object per line, terminated by "\r\n" from QEMU; we send "\n".

/** A line from QEMU longer than this (bytes, before the LF) is a protocol error. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** Default `timeoutMs` for every call, connect and waitForEvent. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** How long close() waits for QEMU to close its side after we end ours, before destroying. */
export const CLOSE_GRACE_MS = 1_000;

/** Largest delay setTimeout honours; longer timeouts are treated as "no timeout". */
export const MAX_TIMER_MS = 2 ** 31 - 1;
