// Joining a host to the cluster, and removing it (docs/security.md):
//   GET    /api/v1/join/ca          (public)      the cluster CA certificate; a joining host checks
//                                                  it against the fingerprint in its token first
//   POST   /api/v1/join             (public)      JoinRequest -> JoinReply: the one-time token and a
//                                                  CSR for the host's own key, for its certificate
//   POST   /api/v1/hosts/tokens     (admin)       JoinTokenRequest -> JoinToken
//   DELETE /api/v1/hosts/{name}     (admin)       revokes the host's certificate, forgets the host
import { Type, type Static } from '@sinclair/typebox';

export const JOIN_PATH = '/api/v1/join';
export const JOIN_CA_PATH = '/api/v1/join/ca';

export const HOST_NAME_PATTERN = '^[A-Za-z0-9]([A-Za-z0-9.-]{0,62}[A-Za-z0-9])?$';

export const JoinRequest = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 256 }),
    name: Type.String({ pattern: HOST_NAME_PATTERN }),
    /** PEM CSR, CN = name, for a key the host made and keeps. */
    csr: Type.String({ minLength: 1, maxLength: 16384 }),
  },
  { additionalProperties: false },
);
export type JoinRequest = Static<typeof JoinRequest>;

export const JoinReply = Type.Object({
  /** The host's certificate (subject CN = name), short-lived: renewed in heartbeats. */
  certificate: Type.String(),
  /** The cluster CA, which the host pins from now on. */
  caCertificate: Type.String(),
});
export type JoinReply = Static<typeof JoinReply>;

export const JoinCa = Type.Object({ caCertificate: Type.String() });
export type JoinCa = Static<typeof JoinCa>;

export const JoinTokenRequest = Type.Object(
  { ttlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 30 * 86_400 })) },
  { additionalProperties: false },
);
export type JoinTokenRequest = Static<typeof JoinTokenRequest>;

export const JoinToken = Type.Object({
  /** `<secret>.<sha256 of the CA certificate>`: give it to `ferry agent --join URL --token T`. Works once. */
  token: Type.String(),
  expiresAt: Type.String(),
});
export type JoinToken = Static<typeof JoinToken>;

export const HostRemoved = Type.Object({ name: Type.String(), revoked: Type.Boolean() });
export type HostRemoved = Static<typeof HostRemoved>;
