// Joining a cluster (`ferry agent --join URL --token T`): the token carries the SHA-256 of the
// cluster CA's certificate, so the host first fetches the CA over an unverified connection and
// checks it against the token, then — with that CA pinned and the controller's role checked —
// sends the token with a CSR for a key it makes now and keeps. The answer is its certificate.
import { certFingerprint, certInfo, createKeyAndCsr } from '../pki/index.js';
import { Agent } from 'undici';
import { ApiClient } from '../contracts/http-client.js';
import { JOIN_CA_PATH, JOIN_PATH, type JoinCa, type JoinReply } from '../contracts/enrolment.js';
import { httpsDispatcher } from '../pki/index.js';
import { storeIdentity, type TlsIdentity } from './data-plane/tls-identity.js';

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}\.([0-9a-f]{64})$/;

export class JoinError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JoinError';
  }
}

/** Enrols this host with the controller(s) at `urls`; stores and returns its identity. */
export async function joinCluster(urls: readonly string[], token: string, name: string, dataDir: string): Promise<TlsIdentity> {
  const m = TOKEN_SHAPE.exec(token.trim());
  if (!m) throw new JoinError('the join token is not one (ferry host token prints one: <secret>.<CA fingerprint>)');
  const pinned = m[1]!;
  // Nothing secret is sent on this unverified connection; what comes back is checked against the token.
  const discovery = new Agent({ connect: { rejectUnauthorized: false } });
  let caPem: string;
  try {
    caPem = (await new ApiClient(urls, '', { dispatcher: () => discovery }).get<JoinCa>(JOIN_CA_PATH)).caCertificate;
  } finally {
    await discovery.close();
  }
  if (certFingerprint(caPem) !== pinned) throw new JoinError('the controller\'s CA is not the one the join token names: refusing to join (a wrong URL, or someone in between)');
  const { keyPem, csrPem } = await createKeyAndCsr(name);
  const pinnedCa = httpsDispatcher({ caPem }, { role: 'controller' });
  let reply: JoinReply;
  try {
    reply = await new ApiClient(urls, '', { dispatcher: () => pinnedCa }).post<JoinReply>(JOIN_PATH, { token: token.trim(), name, csr: csrPem });
  } finally {
    await pinnedCa.close();
  }
  const info = certInfo(reply.certificate);
  if (info.commonName !== name || info.role !== 'host') throw new JoinError(`the controller answered with a certificate for ${String(info.commonName)}`);
  const id = { keyPem, certPem: reply.certificate, caPem };
  storeIdentity(dataDir, id);
  return id;
}
