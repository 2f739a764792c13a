// The image library (docs/images.md): disk images, kernels and initrds imported once and then
// used by name. The controller keeps the catalogue; each host keeps the images it holds as
// chunks in its chunk store (shared with DR replicas, so equal content is stored once) plus one
// materialized file per image for QEMU. A host that lacks an image fetches the chunks it lacks
// from a host that holds it, over ferry-wire.
//
//   POST   /api/v1/images        ImportImageRequest -> 202 Task (result: ImageRecord)
//   GET    /api/v1/images                           -> ImageRecord[]
//   GET    /api/v1/images/:name                     -> ImageRecord
//   DELETE /api/v1/images/:name                     -> 204 (409 while a VM uses it)
import { Type, type Static } from '@sinclair/typebox';

export const IMAGE_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,62}$';
/** An image's identity: assigned at import, never reused; a name may later point at another. */
export const IMAGE_ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

export const IMAGE_FORMATS = ['qcow2', 'raw', 'kernel', 'initrd'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];
export const ImageFormatSchema = Type.Union(IMAGE_FORMATS.map((f) => Type.Literal(f)));

/** What a VM spec names: the image by name; the controller fills in the rest at creation. */
export const ImageRef = Type.Object(
  {
    name: Type.String({ pattern: IMAGE_NAME_PATTERN }),
    id: Type.Optional(Type.String({ pattern: IMAGE_ID_PATTERN })),
    format: Type.Optional(ImageFormatSchema),
    /** Bytes the guest sees (a disk image), so a migration target sizes its disk without the image. */
    virtualSize: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type ImageRef = Static<typeof ImageRef>;

/** What an import found in the file (qemu-img info, then the content for raw files). */
export const ImageFacts = Type.Object({
  format: ImageFormatSchema,
  virtualSize: Type.Integer(),
  /** Bytes of the file. */
  sizeBytes: Type.Integer(),
  /** Bytes of its non-zero chunks: what a host that holds none of them fetches. */
  storedBytes: Type.Integer(),
});
export type ImageFacts = Static<typeof ImageFacts>;

export const ImageRecord = Type.Composite([
  Type.Object({
    name: Type.String(),
    id: Type.String(),
    createdAt: Type.String(),
    /** Hosts that hold the image (imported there or fetched). */
    hosts: Type.Array(Type.String()),
    /** VMs whose spec names it. */
    usedBy: Type.Array(Type.String()),
    /** The latest fetches to hosts that lacked it (at most 20): chunk bytes that crossed, and how long it took. */
    fetches: Type.Optional(Type.Array(Type.Object({ host: Type.String(), from: Type.String(), newBytes: Type.Integer(), ms: Type.Integer(), at: Type.String() }))),
  }),
  ImageFacts,
]);
export type ImageRecord = Static<typeof ImageRecord>;

export const ImportImageRequest = Type.Object(
  {
    name: Type.String({ pattern: IMAGE_NAME_PATTERN }),
    /** Absolute path of the file on `host`, under a directory that agent allows for images. */
    path: Type.String({ minLength: 2, maxLength: 4096, pattern: '^/' }),
    /** The host that has the file (default: any host that is up). */
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  },
  { additionalProperties: false },
);
export type ImportImageRequest = Static<typeof ImportImageRequest>;

// ---- agent side ----

export const IMAGE_JOB_STATES = ['running', 'done', 'failed'] as const;
export type ImageJobState = (typeof IMAGE_JOB_STATES)[number];

export const ImageJobProgress = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal('import'), Type.Literal('send'), Type.Literal('receive')]),
  imageId: Type.String(),
  state: Type.Union(IMAGE_JOB_STATES.map((s) => Type.Literal(s))),
  bytesDone: Type.Integer(),
  bytesTotal: Type.Integer(),
  /** Chunk bytes that crossed the link because this host lacked them (receive). */
  newBytes: Type.Optional(Type.Integer()),
  facts: Type.Optional(ImageFacts),
  error: Type.Optional(Type.String()),
});
export type ImageJobProgress = Static<typeof ImageJobProgress>;

const JobId = Type.String({ minLength: 8, maxLength: 64 });
const Id = Type.String({ pattern: IMAGE_ID_PATTERN });

export const AgentImportRequest = Type.Object({ jobId: JobId, imageId: Id, path: Type.String({ minLength: 2, maxLength: 4096 }) }, { additionalProperties: false });
export type AgentImportRequest = Static<typeof AgentImportRequest>;
export const AgentSendImageRequest = Type.Object(
  { jobId: JobId, imageId: Id, targetHost: Type.String({ minLength: 1 }), targetDataUrl: Type.String({ minLength: 1 }) },
  { additionalProperties: false },
);
export type AgentSendImageRequest = Static<typeof AgentSendImageRequest>;
export const AgentReceiveImageRequest = Type.Object({ jobId: JobId, imageId: Id, fromHost: Type.String({ minLength: 1 }), format: ImageFormatSchema }, { additionalProperties: false });
export type AgentReceiveImageRequest = Static<typeof AgentReceiveImageRequest>;
export const ImageIdParams = Type.Object({ imageId: Id });
/** The images a host holds (materialized and ready for QEMU). */
export const HeldImages = Type.Array(Type.Object({ imageId: Type.String(), format: ImageFormatSchema, sizeBytes: Type.Integer() }));
export type HeldImages = Static<typeof HeldImages>;
