// TLS options for ferry-wire's mutual TLS: both sides present a host certificate from the cluster CA;
// the client additionally requires the server's CN to be the host it meant to reach (we match
// on CN, not DNS/IP SAN, because hosts are addressed by Ferry host name, whatever their address).
import type { ConnectionOptions, PeerCertificate, TLSSocket, TlsOptions } from 'node:tls';

export interface TlsMaterial {
  keyPem: string;
  certPem: string;
  caPem: string;
}

export interface FerryTlsOptions {
  /** For tls.createServer: requires and verifies a client certificate. */
  server: TlsOptions;
  /** For tls.connect: verifies the server's chain and that its CN is `expectedHostName`. */
  client(expectedHostName: string): ConnectionOptions;
}

function cnOf(cert: PeerCertificate | undefined): string | undefined {
  const cn = cert?.subject?.CN as string | string[] | undefined;
  return Array.isArray(cn) ? undefined : cn;
}

/** The role a verified peer certificate names: `controller` (OU=controller), `host` (no OU), else undefined. */
export function roleOf(cert: PeerCertificate | undefined): string | undefined {
  if (!cert?.subject) return undefined;
  const ou = cert.subject.OU as string | string[] | undefined;
  return ou === undefined ? 'host' : ou === 'controller' ? 'controller' : undefined;
}

export function tlsOptions(m: TlsMaterial): FerryTlsOptions {
  const base = { key: m.keyPem, cert: m.certPem, ca: [m.caPem], minVersion: 'TLSv1.3' as const };
  return {
    server: { ...base, requestCert: true, rejectUnauthorized: true },
    client: (expectedHostName) => ({
      ...base,
      rejectUnauthorized: true,
      checkServerIdentity: (_host, cert) => {
        const cn = cnOf(cert);
        if (roleOf(cert) !== 'host') return new Error(`peer certificate is not a host's (role ${String(roleOf(cert))})`);
        return cn === expectedHostName ? undefined : new Error(`peer certificate is for ${String(cn)}, expected ${expectedHostName}`);
      },
    }),
  };
}

/** The CN of the peer's verified host certificate; throws if the peer is not an authorized host. */
export function peerHostName(socket: TLSSocket): string {
  if (!socket.authorized) throw new Error(`TLS peer not authorized: ${String(socket.authorizationError ?? 'no certificate')}`);
  const cert = socket.getPeerCertificate();
  if (roleOf(cert) !== 'host') throw new Error(`TLS peer certificate is not a host's (role ${String(roleOf(cert))})`);
  const cn = cnOf(cert);
  if (!cn) throw new Error('TLS peer certificate has no CN');
  return cn;
}
