// Hash routes, so every view has a URL (reload, back, bookmarks) without server routes:
//   #/  cluster   #/vm/NAME   #/migrations   #/dr   #/balance   #/images
import { signal } from '@preact/signals';

export type Route = { view: 'cluster' } | { view: 'vm'; name: string } | { view: 'migrations' } | { view: 'dr' } | { view: 'balance' } | { view: 'images' };

export function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  switch (parts[0]) {
    case 'vm':
      return parts[1] ? { view: 'vm', name: parts[1] } : { view: 'cluster' };
    case 'migrations':
      return { view: 'migrations' };
    case 'dr':
      return { view: 'dr' };
    case 'balance':
      return { view: 'balance' };
    case 'images':
      return { view: 'images' };
    default:
      return { view: 'cluster' };
  }
}

export const href = (r: Route): string => (r.view === 'vm' ? `#/vm/${encodeURIComponent(r.name)}` : r.view === 'cluster' ? '#/' : `#/${r.view}`);

export const route = signal<Route>(parseRoute(location.hash));
window.addEventListener('hashchange', () => (route.value = parseRoute(location.hash)));
