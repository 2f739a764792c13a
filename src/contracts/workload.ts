// The demo guest's workloads (guest/README.md, `ferry.workload=`): one grammar for the API's
// schema (vm-spec.ts), the CLI's --workload and the web console's create form, which loads this
// very file in the browser, so it imports nothing. A workload is one or more of
// idle | cpu | http | echo | dirty:RATE_MIBS:SET_MIB | dial:PORT, comma-separated. `dial:PORT`
// tries, once a second, to open a TCP connection to the guest's gateway (10.0.2.2 on a
// user-mode NIC: the host) and counts the outcome (`dial_ok`, `dial_failed` in the heartbeat).

/** The workloads that take no arguments. */
export const WORKLOAD_NAMES = ['idle', 'cpu', 'http', 'echo'] as const;

const ONE = `(${WORKLOAD_NAMES.join('|')}|dirty:[0-9]{1,5}:[0-9]{1,6}|dial:[0-9]{1,5})`;

/** Unanchored, as an HTML input's `pattern` wants it (the browser anchors it itself). */
export const WORKLOAD_GRAMMAR = `${ONE}(,${ONE})*`;
/** Anchored, for JSON Schema and RegExp. */
export const WORKLOAD_PATTERN = `^${WORKLOAD_GRAMMAR}$`;
export const WORKLOAD_MAX_LENGTH = 200;

/** How to say what is allowed, in an error or a tooltip. */
export const WORKLOAD_HINT = `${WORKLOAD_NAMES.join(', ')}, dirty:RATE_MIBS:SET_MIB or dial:PORT (comma-separated to combine)`;

/** Suggestions for a form. */
export const WORKLOAD_EXAMPLES: readonly string[] = [...WORKLOAD_NAMES, 'dirty:32:96'];

/** The constraints of the console's workload field: exactly the API schema's. */
export const WORKLOAD_INPUT = { pattern: WORKLOAD_GRAMMAR, maxLength: WORKLOAD_MAX_LENGTH, title: WORKLOAD_HINT } as const;

const WORKLOAD = new RegExp(WORKLOAD_PATTERN);

export function isWorkload(value: string): boolean {
  return value.length <= WORKLOAD_MAX_LENGTH && WORKLOAD.test(value);
}
