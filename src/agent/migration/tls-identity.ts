// The host's data-plane identity: a key made here, a certificate from the cluster CA.
export interface TlsIdentity {
  keyPem: string;
  certPem: string;
  caPem: string;
}
