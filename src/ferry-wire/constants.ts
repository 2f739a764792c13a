// ferry-wire constants: magic, version, frame type codes, limits and defaults.
// The layout they describe is drawn in encoder.ts and specified in docs/ferry-wire.md.

/** "FRRY" — first four bytes of every HELLO payload. */
export const MAGIC = 0x46525259;
export const PROTOCOL_VERSION = 1;

/** type u8 | flags u8 | channel u16 | length u32 */
export const HEADER_BYTES = 8;
/** CRC-32 (IEEE) of header + payload, big-endian. */
export const TRAILER_BYTES = 4;

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** Hard limit on one frame's payload; a larger length is refused before it is buffered. */
export const MAX_FRAME_PAYLOAD = 4 * MiB;
export const MAX_FRAME_BYTES = HEADER_BYTES + MAX_FRAME_PAYLOAD + TRAILER_BYTES;
/** Largest DATA frame an encoder emits (passthrough: large frames, little overhead). */
export const MAX_DATA_PAYLOAD = 1 * MiB;
/** Largest uncompressed chunk. */
export const MAX_CHUNK_BYTES = 1 * MiB;
/** Largest number of entries in one MANIFEST (37 bytes each: well under the frame limit). */
export const MAX_MANIFEST_ENTRIES = 4096;
/** HELLO, HELLO_ACK and ERROR carry JSON of at most this size. */
export const MAX_JSON_BYTES = 64 * KiB;
export const MAX_CHANNEL = 0xffff;

/** Channel 0: QEMU's migration stream (forward: opener → acceptor; reverse: the return path). */
export const CHANNEL_MAIN = 0;
/** Channel the probe uses for its timed transfer. */
export const CHANNEL_PROBE = 0xfff0;

export const FRAME_TYPES = {
  HELLO: 1,
  HELLO_ACK: 2,
  DATA: 3,
  MANIFEST: 4,
  WANT: 5,
  CHUNK: 6,
  ACK: 7,
  DONE: 8,
  ERROR: 9,
  PING: 10,
  PONG: 11,
  CLOSE: 12,
  WINDOW: 13,
} as const;
export type FrameTypeName = keyof typeof FRAME_TYPES;
export const FRAME_TYPE_NAMES: ReadonlyMap<number, FrameTypeName> = new Map(
  Object.entries(FRAME_TYPES).map(([k, v]) => [v, k as FrameTypeName]),
);

/** Codec of a CHUNK body. ZERO never travels in a CHUNK: zero chunks are flagged in the MANIFEST. */
export const CODECS = { raw: 0, deflate: 1, brotli: 2 } as const;
export type CodecName = keyof typeof CODECS;
export const CODEC_NAMES: ReadonlyMap<number, CodecName> = new Map(
  Object.entries(CODECS).map(([k, v]) => [v, k as CodecName]),
);

export const CHUNK_ID_BYTES = 32; // SHA-256
export const MANIFEST_ENTRY_BYTES = CHUNK_ID_BYTES + 4 + 1;
export const MANIFEST_ENTRY_ZERO = 0x01;

/** Flow control: every channel starts with this much credit in each direction (bytes of channel payload). */
export const INITIAL_WINDOW = 16 * MiB;
/** The receiver returns credit in WINDOW frames once at least this much is consumed. */
export const WINDOW_UPDATE_THRESHOLD = INITIAL_WINDOW / 8;
export const CHANNEL_HIGH_WATER_MARK = 1 * MiB;
/**
 * Channels one session may use (claimed by this side or opened by the peer): a migration needs
 * 1 + its disks (at most 8), replication 2, a probe 1. More is refused (WIRE_LIMIT).
 */
export const MAX_SESSION_CHANNELS = 16;
/**
 * Channel payload one side may have unacknowledged across all channels of a session (a writer
 * waits for WINDOW credit beyond it; a reader holding more from its peer fails the session with
 * WIRE_LIMIT). Bounds a session's receive buffers, whatever number of channels the peer uses.
 */
export const SESSION_WINDOW = 4 * INITIAL_WINDOW;
/** Control frames (PONG) are held back while this much is already queued on the socket. */
export const CONTROL_BACKLOG_BYTES = 2 * MAX_FRAME_BYTES;

export const DEFAULT_PING_INTERVAL_MS = 1000;
export const DEFAULT_MISSED_PINGS_LIMIT = 5;
export const DEFAULT_CHUNK_BYTES = 64 * KiB;
/** Chunked mode: a round is sent once it has this many chunks, or when the writer goes idle. */
export const CHUNKS_PER_ROUND = 64;
export const ROUND_FLUSH_MS = 2;
/** Chunks the receiver keeps in memory for deduplication within a session. */
export const SESSION_CACHE_BYTES = 64 * MiB;
/** How long a handshake may take. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
