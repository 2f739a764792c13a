// The one clock of fencing on a host: CLOCK_MONOTONIC, read through process.hrtime (libuv's
// uv_hrtime is clock_gettime(CLOCK_MONOTONIC) on Linux). It is system-wide, so a reading the
// agent writes into the feed means the same instant to the guard process (clock.test.ts checks
// that across processes), and it does not move when the wall clock is stepped (date -s, an NTP
// step): an old lease can never look fresh. Nothing in the lease path reads Date.now().

/** Milliseconds on CLOCK_MONOTONIC (fractional). */
export function monoNowMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}
