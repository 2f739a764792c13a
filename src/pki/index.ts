// Public surface of the cluster PKI: CA, CSR signing and mutual-TLS options for ferry-wire.
export { createCa, createKeyAndCsr, signCsr, certCommonName, PkiError, type KeyAndCert, type SignOptions } from './ca.js';
export { tlsOptions, peerHostName, type TlsMaterial, type FerryTlsOptions } from './tls.js';
