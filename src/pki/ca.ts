// The cluster's small CA: ECDSA P-256 keys and X.509 certificates via @peculiar/x509 (pure JS over
// WebCrypto). The controller holds the CA; an agent makes a key and a CSR, the controller signs it
// for the host name a join token or the host's current certificate vouches for, and both sides
// use the result for mutual TLS: controller<->agent HTTPS and agent<->agent ferry-wire. A
// certificate's role (a host's has no OU, a controller's OU=controller) says which side of the control plane it may take.
// @peculiar/x509 uses tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import { createHash, createPublicKey, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Allowance for clocks that differ a little between hosts. */
const BACKDATE_MS = 5 * 60_000;

export interface KeyAndCert {
  keyPem: string;
  certPem: string;
}
export interface PkiErrorInfo {
  code: 'PKI_BAD_CSR' | 'PKI_NAME_MISMATCH' | 'PKI_BAD_INPUT';
}
export class PkiError extends Error {
  readonly code: PkiErrorInfo['code'];
  constructor(code: PkiErrorInfo['code'], message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'PkiError';
    this.code = code;
  }
}

const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,126}[A-Za-z0-9])?$/;
function checkName(name: string): void {
  if (!HOST_NAME.test(name)) throw new PkiError('PKI_BAD_INPUT', `not a usable host name: ${JSON.stringify(name)}`);
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyToPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key as webcrypto.CryptoKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function keyFromPem(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  return (await webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign'])) as CryptoKey;
}

function serial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = b[0]! & 0x7f; // positive
  return Buffer.from(b).toString('hex');
}

/** A self-signed CA certificate, valid 10 years. */
export async function createCa(commonName: string): Promise<KeyAndCert> {
  const keys = await newKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [commonName] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + 3652 * DAY_MS),
    signingAlgorithm: SIGN,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { keyPem: await keyToPem(keys.privateKey), certPem: cert.toString('pem') };
}

/** Agent side: a fresh key and a CSR whose CN is the host name. */
export async function createKeyAndCsr(hostName: string): Promise<{ keyPem: string; csrPem: string }> {
  checkName(hostName);
  const keys = await newKeys();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: [hostName] }], keys, signingAlgorithm: SIGN });
  return { keyPem: await keyToPem(keys.privateKey), csrPem: csr.toString('pem') };
}

/** What a certificate lets its holder be: a host (agent) or a controller. */
export type CertRole = 'host' | 'controller';

/** Agent side: a CSR for a key it already holds (renewal keeps the host's key). */
export async function csrForKey(keyPem: string, hostName: string): Promise<string> {
  checkName(hostName);
  const privateKey = await keyFromPem(keyPem);
  const spki = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  const publicKey = (await webcrypto.subtle.importKey('spki', spki, ALG, true, ['verify'])) as CryptoKey;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: [hostName] }], keys: { privateKey, publicKey }, signingAlgorithm: SIGN });
  return csr.toString('pem');
}

export interface SignOptions {
  /** Validity in ms (default 365 days). */
  lifetimeMs?: number;
  /** Default 'host'. */
  role?: CertRole;
  /** Extra IP addresses for the SAN (127.0.0.1 is always there). */
  ips?: string[];
}

/**
 * Controller side: checks the CSR's signature and that its CN is `hostName`, then issues a
 * certificate for it: CN and SAN DNS = hostName (and OU=controller for a controller), SAN IP 127.0.0.1, serverAuth + clientAuth.
 */
export async function signCsr(ca: KeyAndCert, csrPem: string, hostName: string, opts: SignOptions = {}): Promise<string> {
  checkName(hostName);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new PkiError('PKI_BAD_CSR', 'CSR does not parse', { cause: err });
  }
  if (!(await csr.verify().catch(() => false))) throw new PkiError('PKI_BAD_CSR', 'CSR signature does not verify');
  const cns = csr.subjectName.getField('CN');
  if (cns.length !== 1 || cns[0] !== hostName) {
    throw new PkiError('PKI_NAME_MISMATCH', `CSR is for ${JSON.stringify(cns.join(','))}, not ${JSON.stringify(hostName)}`);
  }
  const caCert = new x509.X509Certificate(ca.certPem);
  const now = Date.now();
  const ips = ['127.0.0.1', ...(opts.ips ?? [])];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    // A host's subject is its CN alone (QEMU's migration TLS admits the peer by its exact DN,
    // `CN=<host>`); a controller's also carries OU=controller.
    subject: opts.role === 'controller' ? [{ CN: [hostName] }, { OU: ['controller'] }] : [{ CN: [hostName] }],
    issuer: caCert.subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + (opts.lifetimeMs ?? 365 * DAY_MS)),
    signingAlgorithm: SIGN,
    publicKey: csr.publicKey,
    signingKey: await keyFromPem(ca.keyPem),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: hostName }, ...ips.map((value) => ({ type: 'ip' as const, value }))]),
      await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return cert.toString('pem');
}

/** The CN of a PEM certificate (e.g. to show which host a certificate was issued to). */
export function certCommonName(certPem: string): string | undefined {
  return new x509.X509Certificate(certPem).subjectName.getField('CN')[0];
}

/** SHA-256 (hex) of a DER SubjectPublicKeyInfo: names a key whatever certificate carries it. */
function spkiSha256(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

export interface CertInfo {
  commonName: string | undefined;
  role: CertRole | undefined;
  /** Lower-case hex. */
  serial: string;
  /** SHA-256 of the public key (SPKI), hex. */
  keySha256: string;
  notAfter: Date;
  notBefore: Date;
}

/** What a certificate (PEM, or DER as a TLS peer presents it) says about its holder. */
export function certInfo(cert: string | Buffer): CertInfo {
  const c = new NodeX509(cert);
  const subject = Object.fromEntries(c.subject.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const ou = subject.OU;
  return {
    commonName: subject.CN,
    role: ou === undefined ? 'host' : ou === 'controller' ? 'controller' : undefined,
    serial: c.serialNumber.toLowerCase(),
    keySha256: spkiSha256(c.publicKey.export({ type: 'spki', format: 'der' })),
    notAfter: new Date(c.validTo),
    notBefore: new Date(c.validFrom),
  };
}

/** SHA-256 (hex) of the public key a CSR asks a certificate for. */
export function csrKeySha256(csrPem: string): string {
  try {
    return spkiSha256(Buffer.from(new x509.Pkcs10CertificateRequest(csrPem).publicKey.rawData));
  } catch (err) {
    throw new PkiError('PKI_BAD_CSR', 'CSR does not parse', { cause: err });
  }
}

/** SHA-256 (hex) of the CA certificate's DER: what a join token pins. */
export function certFingerprint(certPem: string): string {
  return createHash('sha256').update(new NodeX509(certPem).raw).digest('hex');
}

/** A key and a certificate for it in one step (the controller's own identity: it holds the CA). */
export async function issueIdentity(ca: KeyAndCert, name: string, opts: SignOptions = {}): Promise<KeyAndCert> {
  const { keyPem, csrPem } = await createKeyAndCsr(name);
  return { keyPem, certPem: await signCsr(ca, csrPem, name, opts) };
}
