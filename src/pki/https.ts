// Mutual TLS for the control plane's HTTPS (controller <-> agent, and the CLI to the controller):
// server options that ask for (or require) a client certificate from the cluster CA, the verified
// peer of a request, and an HTTP dispatcher for fetch that pins the cluster CA, presents this
// side's certificate and checks the server's role and name (never its address: components are
// named by Ferry, whatever address they are reached at).
import { createSecureContext, type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';
import { Agent, type Dispatcher } from 'undici';
import { certInfo, type CertRole } from './ca.js';
import { roleOf, type TlsMaterial } from './tls.js';

export interface TrustMaterial {
  caPem: string;
  /** This side's certificate and key, for mutual TLS (absent: a CLI with a bearer token). */
  keyPem?: string;
  certPem?: string;
}

export interface ServerTlsOptions {
  key: string;
  cert: string;
  ca: string[];
  requestCert: true;
  rejectUnauthorized: boolean;
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** Picks the certificate by the name the client asked for (server name indication). */
  SNICallback?: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
}

/**
 * The controller's options when it also has a certificate of the operator's for browsers: that
 * one by default, the cluster certificate for clients that ask for `clusterName` by SNI (agents
 * and the CLI always do). Browsers get TLS 1.2 too.
 */
export function httpsServerOptionsWithPublicCert(id: TlsMaterial, publicCert: { keyPem: string; certPem: string }, clusterName: string): ServerTlsOptions {
  const cluster = createSecureContext({ key: id.keyPem, cert: id.certPem, ca: [id.caPem] });
  const pub = createSecureContext({ key: publicCert.keyPem, cert: publicCert.certPem, ca: [id.caPem] });
  return {
    key: publicCert.keyPem, cert: publicCert.certPem, ca: [id.caPem], requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2',
    SNICallback: (servername, cb) => cb(null, servername === clusterName ? cluster : pub),
  };
}

/**
 * HTTPS server options. `requireClientCert`: a client without a certificate from the CA fails
 * the handshake (the agent); otherwise one is asked for and checked per route (the controller,
 * whose API users and browsers have none).
 */
export function httpsServerOptions(id: TlsMaterial, requireClientCert: boolean): ServerTlsOptions {
  return { key: id.keyPem, cert: id.certPem, ca: [id.caPem], requestCert: true, rejectUnauthorized: requireClientCert, minVersion: 'TLSv1.3' };
}

/** Who is at the other end of a request's connection, if it presented a verified certificate. */
export interface PeerIdentity {
  name: string;
  role: CertRole;
  serial: string;
  keySha256: string;
  notAfter: Date;
}

export function verifiedPeer(socket: TLSSocket | object): PeerIdentity | undefined {
  const s = socket as TLSSocket;
  if (!s.authorized || typeof s.getPeerCertificate !== 'function') return undefined;
  const raw = s.getPeerCertificate()?.raw;
  if (!raw) return undefined;
  const info = certInfo(raw);
  if (!info.commonName || !info.role) return undefined;
  return { name: info.commonName, role: info.role, serial: info.serial, keySha256: info.keySha256, notAfter: info.notAfter };
}

/** Which server a client accepts: one holding a certificate of `role` (and, for a host, named `name`). */
export interface ServerExpectation {
  role: CertRole;
  name?: string;
}

function checkServer(expect: ServerExpectation) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    const role = roleOf(cert);
    if (role !== expect.role) return new Error(`server certificate is a ${String(role)}'s, expected a ${expect.role}'s`);
    const cn = cert.subject?.CN;
    if (expect.name !== undefined && cn !== expect.name) return new Error(`server certificate is for ${String(cn)}, expected ${expect.name}`);
    return undefined;
  };
}

/** A dispatcher for fetch (`{ dispatcher }`): the cluster CA pinned, our certificate presented, the server's role checked. */
export function httpsDispatcher(trust: TrustMaterial, expect: ServerExpectation): Dispatcher {
  return new Agent({
    connect: {
      ca: [trust.caPem],
      ...(trust.certPem && trust.keyPem ? { cert: trust.certPem, key: trust.keyPem } : {}),
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      // Named by Ferry, not by address: a controller that also serves an operator's certificate
      // to browsers answers this name with the cluster's (httpsServerOptionsWithPublicCert).
      servername: expect.name ?? `ferry-${expect.role}`,
      checkServerIdentity: checkServer(expect),
    },
    // A control-plane connection is reused only briefly: a renewed certificate soon takes over.
    keepAliveTimeout: 4_000,
  });
}
