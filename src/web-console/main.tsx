// The console's shell: login (the cluster's admin token, exchanged for a session cookie), the
// navigation, the connection state of the event stream, and the view the URL names.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { hasSession, login, loggedOut, logout } from './api.js';
import { ConfirmHost } from './components/confirm.js';
import { connect } from './events.js';
import { href, route, type Route } from './router.js';
import { connection } from './store.js';
import { BalanceView } from './views/balance.js';
import { ClusterView } from './views/cluster.js';
import { DrView } from './views/dr.js';
import { ImagesView } from './views/images.js';
import { MigrationsView } from './views/migrations.js';
import { VmView } from './views/vm.js';

const NAV: { label: string; route: Route }[] = [
  { label: 'Cluster', route: { view: 'cluster' } },
  { label: 'Migrations', route: { view: 'migrations' } },
  { label: 'Disaster recovery', route: { view: 'dr' } },
  { label: 'Balancer', route: { view: 'balance' } },
  { label: 'Images', route: { view: 'images' } },
];

function Login() {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    try {
      await login(token.trim());
      setError(undefined);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={(e) => void submit(e)} aria-labelledby="login-title">
        <h1 id="login-title">Ferry</h1>
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autoComplete="current-password" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} autoFocus required />
        <p class="hint">The token <code>ferry up</code> printed (also in <code>$FERRY_HOME/admin-token</code>).</p>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>Log in</button>
      </form>
    </main>
  );
}

function View() {
  const r = route.value;
  switch (r.view) {
    case 'vm':
      return <VmView name={r.name} />;
    case 'migrations':
      return <MigrationsView />;
    case 'dr':
      return <DrView />;
    case 'balance':
      return <BalanceView />;
    case 'images':
      return <ImagesView />;
    default:
      return <ClusterView />;
  }
}

function Shell() {
  useEffect(() => connect(), []);
  const current = route.value.view === 'vm' ? 'cluster' : route.value.view;
  const conn = connection.value;
  return (
    <>
      <header class="top">
        <a class="brand" href="#/">Ferry</a>
        <nav aria-label="Main">
          {NAV.map((n) => (
            <a href={href(n.route)} aria-current={n.route.view === current ? 'page' : undefined}>{n.label}</a>
          ))}
        </nav>
        <span class={`conn conn-${conn}`} role="status" aria-live="polite">{conn === 'live' ? 'live' : conn === 'connecting' ? 'connecting…' : 'reconnecting…'}</span>
        <button type="button" class="link" onClick={() => void logout()}>Log out</button>
      </header>
      <main id="view">
        <View />
      </main>
      <ConfirmHost />
    </>
  );
}

function App() {
  const [checked, setChecked] = useState(false);
  useEffect(() => {
    hasSession().then((ok) => {
      loggedOut.value = !ok;
      setChecked(true);
    }, () => setChecked(true));
  }, []);
  if (!checked) return null;
  return loggedOut.value ? <Login /> : <Shell />;
}

render(<App />, document.getElementById('app')!);
