import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { createCa, createKeyAndCsr, signCsr, certCommonName, tlsOptions, peerHostName, PkiError, type KeyAndCert } from './index.js';

let ca: KeyAndCert;
let otherCa: KeyAndCert;
let server: { keyPem: string; certPem: string };
let client: { keyPem: string; certPem: string };
let rogue: { keyPem: string; certPem: string };

async function host(authority: KeyAndCert, name: string): Promise<{ keyPem: string; certPem: string }> {
  const { keyPem, csrPem } = await createKeyAndCsr(name);
  return { keyPem, certPem: await signCsr(authority, csrPem, name) };
}

before(async () => {
  [ca, otherCa] = await Promise.all([createCa('ferry-test-ca'), createCa('other-ca')]);
  [server, client, rogue] = await Promise.all([host(ca, 'host-a'), host(ca, 'host-b'), host(otherCa, 'host-b')]);
});

interface Outcome {
  /** What the server saw as the client's CN, or undefined if the server never accepted. */
  serverSaw?: string;
  /** What the client saw as the server's CN. */
  clientSaw?: string;
}

/** A real TLS server on 127.0.0.1 that answers each verified client with its CN. */
async function attempt(clientOpts: tls.ConnectionOptions): Promise<Outcome> {
  const srv = tls.createServer(tlsOptions({ ...server, caPem: ca.certPem }).server, (s) => {
    s.on('error', () => {});
    s.end(`${peerHostName(s)}\n`);
  });
  srv.on('tlsClientError', () => {});
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  try {
    return await new Promise<Outcome>((resolve) => {
      const c = tls.connect({ ...clientOpts, host: '127.0.0.1', port });
      let got = '';
      let clientSaw: string | undefined;
      c.on('secureConnect', () => {
        clientSaw = peerHostName(c);
      });
      c.on('data', (d: Buffer) => (got += d.toString()));
      c.on('error', () => {});
      c.on('close', () => resolve(got.endsWith('\n') ? { serverSaw: got.trim(), clientSaw } : { clientSaw }));
    });
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
  }
}

test('certificates carry CN, SAN and usages', () => {
  assert.equal(certCommonName(server.certPem), 'host-a');
  const x = new X509Certificate(server.certPem);
  assert.match(x.subjectAltName ?? '', /DNS:host-a/);
  assert.match(x.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  assert.ok(x.keyUsage?.includes('1.3.6.1.5.5.7.3.1') && x.keyUsage?.includes('1.3.6.1.5.5.7.3.2'));
  assert.ok(x.checkIssued(new X509Certificate(ca.certPem)));
  assert.equal(new X509Certificate(ca.certPem).ca, true);
});

test('mutual TLS between two hosts of the cluster: each sees the other CN', async () => {
  const out = await attempt(tlsOptions({ ...client, caPem: ca.certPem }).client('host-a'));
  assert.deepEqual(out, { serverSaw: 'host-b', clientSaw: 'host-a' });
});

test('a client expecting another host name refuses the server', async () => {
  const out = await attempt(tlsOptions({ ...client, caPem: ca.certPem }).client('host-z'));
  assert.equal(out.serverSaw, undefined);
  assert.equal(out.clientSaw, undefined);
});

test('a client with a certificate from another CA is refused', async () => {
  const out = await attempt(tlsOptions({ ...rogue, caPem: ca.certPem }).client('host-a'));
  assert.equal(out.serverSaw, undefined);
});

test('a client without a certificate is refused', async () => {
  const out = await attempt({ ca: [ca.certPem], checkServerIdentity: () => undefined });
  assert.equal(out.serverSaw, undefined);
});

test('signCsr refuses a CSR for another host name, and garbage', async () => {
  const { csrPem } = await createKeyAndCsr('host-c');
  await assert.rejects(signCsr(ca, csrPem, 'host-d'), (e: unknown) => e instanceof PkiError && e.code === 'PKI_NAME_MISMATCH');
  await assert.rejects(signCsr(ca, 'not a csr', 'host-c'), (e: unknown) => e instanceof PkiError && e.code === 'PKI_BAD_CSR');
  const tampered = csrPem.replace(/[A-Za-z](?=[A-Za-z0-9+/=]*\n-----END)/, (c) => (c === 'A' ? 'B' : 'A'));
  await assert.rejects(signCsr(ca, tampered, 'host-c'), (e: unknown) => e instanceof PkiError && e.code === 'PKI_BAD_CSR');
});
