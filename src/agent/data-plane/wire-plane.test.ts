// The data endpoint's connection caps over real mutual TLS: one peer host cannot hold more than
// its share of connections, and a freed slot can be used again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:tls';
import { createCa, createKeyAndCsr, signCsr, tlsOptions } from '../../pki/index.js';
import { openSession, type WireSession } from '../../ferry-wire/index.js';
import { parseDataUrl } from './plane.js';
import { WirePlane } from './wire-plane.js';
import type { TlsIdentity } from './tls-identity.js';
import { waitFor } from '../../testing/wait-for.js';

async function identity(ca: { keyPem: string; certPem: string }, host: string): Promise<TlsIdentity> {
  const { keyPem, csrPem } = await createKeyAndCsr(host);
  return { keyPem, certPem: await signCsr(ca, csrPem, host), caPem: ca.certPem };
}

async function probeSession(url: string, from: TlsIdentity, to: string): Promise<WireSession> {
  const { host, port } = parseDataUrl(url);
  const sock = connect({ host, port, ...tlsOptions(from).client(to) });
  sock.on('error', () => undefined);
  await once(sock, 'secureConnect');
  return openSession(sock, { kind: 'probe', sessionId: `p-${Math.random()}` }, { mode: 'passthrough' });
}

test('a peer past its connection cap is refused with WIRE_LIMIT; a closed connection frees its slot', async () => {
  const ca = await createCa('test-ca');
  const plane = new WirePlane('127.0.0.1', 0, { perPeer: 2, total: 8 });
  await plane.setIdentity(await identity(ca, 'h1'));
  const h2 = await identity(ca, 'h2');
  const h3 = await identity(ca, 'h3');
  try {
    const url = plane.url()!;
    const held = [await probeSession(url, h2, 'h1'), await probeSession(url, h2, 'h1')];
    await assert.rejects(probeSession(url, h2, 'h1'), { code: 'WIRE_LIMIT' });
    const other = await probeSession(url, h3, 'h1');
    assert.ok((await other.ping()) >= 0, 'another host is not affected');
    held[0]!.destroy();
    await held[0]!.closed.catch(() => undefined);
    // The slot is freed when the endpoint sees the socket close, a moment after our side.
    const again = await waitFor('a connection from h2 once one closed', () => probeSession(url, h2, 'h1'), { everyMs: 50 });
    assert.ok((await again.ping()) >= 0);
    for (const s of [held[1]!, other, again]) s.destroy();
  } finally {
    await plane.close();
  }
});
