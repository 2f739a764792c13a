// Public surface of the cluster PKI: CA, CSR signing, mutual-TLS options for ferry-wire and HTTPS.
export {
  createCa, createKeyAndCsr, csrForKey, signCsr, issueIdentity, certCommonName, certInfo, csrKeySha256, certFingerprint, PkiError,
  type KeyAndCert, type SignOptions, type CertRole, type CertInfo,
} from './ca.js';
export { tlsOptions, peerHostName, roleOf, type TlsMaterial, type FerryTlsOptions } from './tls.js';
export { httpsServerOptions, httpsServerOptionsWithPublicCert, httpsDispatcher, verifiedPeer, type TrustMaterial, type PeerIdentity, type ServerExpectation, type ServerTlsOptions } from './https.js';
