// Joining, renewal and removal of hosts (docs/security.md). A host joins once with a one-time
// token: it sends a CSR for a key it made and keeps, and gets a short-lived certificate bound to
// that key; from then on it is that certificate. It renews over mutual TLS with a CSR for the
// same key (a host's key changes only when an operator removes it and it joins again), and a
// removed host's certificate is refused at once: every request under /internal checks that the
// presented key is still the enrolled one.
import { createHmac } from 'node:crypto';
import { certFingerprint, certInfo, csrKeySha256, signCsr, type KeyAndCert, type PeerIdentity } from '../../pki/index.js';
import { FerryError } from '../../contracts/errors.js';
import { ConflictError, InvalidRequestError } from '../errors.js';
import { createLog } from '../log.js';
import type { Db } from '../db.js';
import { EnrolmentsRepo, type Enrolment } from './enrolments-repo.js';
import { JoinTokensRepo, parseJoinToken, JOIN_TOKEN_TTL_MS } from './tokens.js';

const log = createLog('ferry:controller:enrolment');

/** Host certificates are short-lived (default one day) and renewed before they expire. */
export const HOST_CERT_LIFETIME_MS = 24 * 3_600_000;

export interface JoinResult {
  certificate: string;
  caCertificate: string;
}

export class EnrolmentService {
  readonly tokens: JoinTokensRepo;
  readonly enrolments: EnrolmentsRepo;
  readonly caFingerprint: string;
  /** The newest certificate issued per host and the CSR it answered, so a CSR sent again gets the same one. */
  private readonly issued = new Map<string, { csr: string; certificate: string }>();

  constructor(
    db: Db,
    private readonly ca: KeyAndCert,
    private readonly lifetimeMs = HOST_CERT_LIFETIME_MS,
  ) {
    this.tokens = new JoinTokensRepo(db);
    this.enrolments = new EnrolmentsRepo(db);
    this.caFingerprint = certFingerprint(ca.certPem);
  }

  /**
   * What the hosts' fence guards authenticate their pings with: derived from the CA key, so every
   * controller sharing the CA hands out the same one, and only over mutual TLS to enrolled hosts.
   */
  get fenceKey(): string {
    return (this.#fenceKey ??= createHmac('sha256', this.ca.keyPem).update('ferry fence guard key v1').digest('base64url'));
  }
  #fenceKey: string | undefined;

  get caPem(): string {
    return this.ca.certPem;
  }

  mintToken(ttlMs = JOIN_TOKEN_TTL_MS): { token: string; expiresAt: string } {
    this.tokens.purge(new Date(), new Date(Date.now() - 7 * 24 * 3_600_000));
    return this.tokens.mint(this.caFingerprint, ttlMs);
  }

  /**
   * Exchanges a join token for a certificate. A name already enrolled joins again only with the
   * key it enrolled with (the same host, e.g. back after its certificate expired); another key
   * is refused until an operator removes the host.
   */
  async join(token: string, name: string, csr: string): Promise<JoinResult> {
    const parsed = parseJoinToken(token);
    if (!parsed) throw new InvalidRequestError('body.token', 'is not a join token (ferry host token prints one)');
    if (parsed.caFingerprint !== this.caFingerprint) throw new FerryError('UNAUTHORIZED', 'the join token is for another cluster CA');
    const key = this.csrKey(csr);
    const known = this.enrolments.get(name);
    if (known && known.keySha256 !== key) {
      throw new ConflictError(`host ${name} is already enrolled with another key; remove it first (ferry host remove ${name}) if it is to join anew`);
    }
    const certificate = await this.sign(csr, name);
    // Spent last, so a malformed request does not burn a token; checked and spent in one statement.
    if (!this.tokens.spend(parsed.secret, name)) throw new FerryError('UNAUTHORIZED', 'the join token is unknown, already used or expired');
    const info = certInfo(certificate);
    this.enrolments.put({ name, keySha256: key, serial: info.serial, notAfter: info.notAfter.toISOString(), enrolledAt: new Date().toISOString() });
    this.issued.set(name, { csr, certificate });
    log('host %s joined (key %s…)', name, key.slice(0, 16));
    return { certificate, caCertificate: this.ca.certPem };
  }

  /** Is this verified client certificate an enrolled host's current key? */
  isEnrolledHost(peer: PeerIdentity): boolean {
    if (peer.role !== 'host') return false;
    const e = this.enrolments.get(peer.name);
    return e !== undefined && e.keySha256 === peer.keySha256;
  }

  /** A renewed certificate for an enrolled host, for a CSR of the key it enrolled with; the same CSR gets the same certificate. */
  async renew(name: string, csr: string): Promise<string> {
    const known = this.issued.get(name);
    if (known && known.csr === csr) return known.certificate;
    const e = this.enrolled(name);
    if (this.csrKey(csr) !== e.keySha256) throw new InvalidRequestError('body.csr', `is for another key than host ${name} enrolled with: a host's key changes only when it joins again`);
    const certificate = await this.sign(csr, name);
    const info = certInfo(certificate);
    this.enrolments.renewed(name, info.serial, info.notAfter.toISOString());
    this.issued.set(name, { csr, certificate });
    log('renewed the certificate of host %s (until %s)', name, info.notAfter.toISOString());
    return certificate;
  }

  /** Revokes the host: its certificate is refused from now on. True if it was enrolled. */
  remove(name: string): boolean {
    this.issued.delete(name);
    const removed = this.enrolments.remove(name);
    if (removed) log('host %s removed: its certificate is refused from now on', name);
    return removed;
  }

  list(): Enrolment[] {
    return this.enrolments.list();
  }

  private enrolled(name: string): Enrolment {
    const e = this.enrolments.get(name);
    if (!e) throw new FerryError('UNAUTHORIZED', `host ${name} is not enrolled`);
    return e;
  }

  private csrKey(csr: string): string {
    try {
      return csrKeySha256(csr);
    } catch (err) {
      throw new InvalidRequestError('body.csr', `is not a certificate signing request: ${(err as Error).message}`);
    }
  }

  private async sign(csr: string, name: string): Promise<string> {
    try {
      return await signCsr(this.ca, csr, name, { lifetimeMs: this.lifetimeMs, role: 'host' });
    } catch (err) {
      throw new InvalidRequestError('body.csr', `not signed: ${(err as Error).message}`);
    }
  }
}
