// The location registry and Ferry-run service endpoints (docs/endpoints.md): where each VM runs
// now, and the stable TCP addresses clients use to reach a VM's guest port wherever it moves.
//
//   POST   /api/v1/vms/:name/expose        ExposeRequest -> 201 ServiceEndpoint (200 if already exposed)
//   DELETE /api/v1/vms/:name/expose/:port                -> 204
//   GET    /api/v1/vms/:name/endpoints                   -> ServiceEndpoint[]
//   GET    /api/v1/locations                             -> VmLocation[]
import { Type, type Static } from '@sinclair/typebox';
import { Endpoint } from './vm-spec.js';

/** Why a VM's location last changed. */
export const LOCATION_REASONS = ['created', 'migrated', 'failover', 'failback', 'restored', 'started', 'changed'] as const;
export type LocationReason = (typeof LOCATION_REASONS)[number];
export const LocationReason = Type.Union(LOCATION_REASONS.map((r) => Type.Literal(r)));

export const VmLocation = Type.Object({
  vm: Type.String(),
  uuid: Type.String(),
  host: Type.String(),
  site: Type.String(),
  addresses: Type.Object({
    /** The first NIC's guest address: slirp's default 10.0.2.15 (user-mode), or its own on a bridged segment. */
    guest: Type.Optional(Type.String()),
    /** Bridged NICs: the address and MAC each keeps on its layer-2 segment wherever the VM moves within it. */
    lan: Type.Optional(Type.Array(Type.Object({ segment: Type.String(), ip: Type.String(), mac: Type.Optional(Type.String()) }))),
    /** Forwarded host:port pairs on `host`, as its agent last reported them for this VM. */
    forwards: Type.Array(Endpoint),
  }),
  /** Guest ports exposed through a Ferry service endpoint. */
  ports: Type.Array(Type.Integer()),
  /** ISO time of the last change of host, site or addresses. */
  since: Type.String(),
  reason: LocationReason,
});
export type VmLocation = Static<typeof VmLocation>;

export const ServiceEndpoint = Type.Object({
  /** The guest port. */
  port: Type.Integer(),
  /** The stable address clients use, e.g. `tcp://127.0.0.1:41000`. */
  url: Type.String(),
  vm: Type.String(),
  /** Where new connections go now (`host:port` of the forward on the VM's host); absent while none is usable. */
  target: Type.Optional(Type.String()),
  /** Connections open through the endpoint now, and held waiting for a location. */
  connections: Type.Optional(Type.Integer()),
  held: Type.Optional(Type.Integer()),
});
export type ServiceEndpoint = Static<typeof ServiceEndpoint>;

export const ExposeRequest = Type.Object({ port: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false });
export type ExposeRequest = Static<typeof ExposeRequest>;

/** Event: a VM's location changed (host, site or forwarded addresses). */
export const LocationEvent = Type.Object({ type: Type.Literal('location'), location: VmLocation });
export type LocationEvent = Static<typeof LocationEvent>;
