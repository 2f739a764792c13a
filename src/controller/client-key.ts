// Who a client is, for per-client limits (failed console logins, event streams): its IPv4
// address, or the /64 of its IPv6 address, since one machine is usually given a whole /64 and
// could otherwise take a fresh address for every attempt.
/** The key a client is counted under: an IPv4 address, or an IPv6 address's /64. */
export function clientKey(address: string): string {
  const v4 = /^(?:::ffff:)?(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (v4) return v4[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
