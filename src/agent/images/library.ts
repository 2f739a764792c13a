// This host's share of the image library (layout.ts): importing a file, sending an image to a
// peer, receiving one, listing and removing what it holds. Jobs run in the background and are
// polled (GET /images/jobs/:id); the controller turns them into a task with progress.
//
// Import: the file is cut into the DR transfer's fixed 64 KiB chunks (zero chunks are holes,
// never stored); the chunks go into the host's chunk store through a staging, which commits the
// image's manifest; then the store writes the library file, verifying every chunk. A transfer
// is a DR replication session (../dr/transfer.ts): the receiver already holds some chunks (other
// images, DR replicas) and asks only for the rest.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import {
  FerryError, IMAGE_ID_PATTERN, type AgentImportRequest, type AgentReceiveImageRequest, type AgentSendImageRequest, type HeldImages, type ImageFacts, type ImageFormat,
  type ImageJobProgress,
} from '../../contracts/index.js';
import type { AgentContext } from '../agent-context.js';
import type { AllowedPaths } from '../allowed-paths.js';
import type { DataSession } from '../data-plane/plane.js';
import { log } from '../log.js';
import type { ChunkStore, Staging } from '../dr/store/index.js';
import { CHUNK_BYTES, receiveFiles, sendFiles } from '../dr/transfer.js';
import { chunkFile } from './chunk-file.js';
import { detectImage } from './detect.js';
import { ImageJob } from './job.js';
import { heldImageFile, imageFile, imageLibDir, imageMetaFile, STORE_FILE, STORE_SEQ, storeKey } from './layout.js';

const SESSION_WAIT_MS = 60_000;
const MAX_KEPT_JOBS = 100;
const ID_RE = new RegExp(IMAGE_ID_PATTERN);

interface HeldMeta {
  imageId: string;
  format: ImageFormat;
  facts: ImageFacts;
}

export class ImageLibrary {
  readonly #jobs = new Map<string, ImageJob>();

  constructor(
    private readonly ctx: AgentContext,
    /** The host's chunk store (owned by DR: one store per host, so images and replicas share chunks). */
    private readonly store: () => ChunkStore,
    private readonly paths: AllowedPaths,
  ) {
    mkdirSync(imageLibDir(ctx.dataDir), { recursive: true });
  }

  /** Library file of an image this host holds; NOT_FOUND otherwise. */
  pathOf(imageId: string): string {
    return heldImageFile(this.ctx.dataDir, this.ctx.hostName, imageId);
  }

  held(): HeldImages {
    const out: HeldImages = [];
    for (const f of readdirSync(imageLibDir(this.ctx.dataDir))) {
      const id = f.endsWith('.json') ? f.slice(0, -5) : undefined;
      const meta = id && ID_RE.test(id) ? this.#meta(id) : undefined;
      if (meta) out.push({ imageId: meta.imageId, format: meta.format, sizeBytes: meta.facts.sizeBytes });
    }
    return out;
  }

  job(id: string): ImageJobProgress {
    const job = this.#jobs.get(id);
    if (!job) throw new FerryError('NOT_FOUND', `no image job ${id} on this host`);
    return job.progress;
  }

  abort(id: string): ImageJobProgress {
    const job = this.#jobs.get(id);
    if (!job) throw new FerryError('NOT_FOUND', `no image job ${id} on this host`);
    job.abort();
    return job.progress;
  }

  /** Refused while a VM of this host still layers a disk on it or boots its kernel. */
  remove(imageId: string): void {
    const users = [...this.ctx.mgr.vms.values()].filter((vm) => usesImage(vm.rec.spec, imageId)).map((vm) => vm.name);
    if (users.length > 0) throw new FerryError('CONFLICT', `image ${imageId} is in use on ${this.ctx.hostName} by ${users.join(', ')}`);
    rmSync(imageMetaFile(this.ctx.dataDir, imageId), { force: true });
    rmSync(imageFile(this.ctx.dataDir, imageId), { force: true });
    this.store().drop(storeKey(imageId));
  }

  import(req: AgentImportRequest): ImageJobProgress {
    if (!this.paths.allows(req.path)) {
      throw new FerryError('INVALID_REQUEST', `body.path ${req.path} is not under a directory this host allows for images (${this.paths.dirs.join(', ')}; agent option --image-dir)`, { field: 'body.path' });
    }
    if (!existsSync(req.path) || !statSync(req.path).isFile()) throw new FerryError('INVALID_REQUEST', `body.path ${req.path} is not a file on host ${this.ctx.hostName}`, { field: 'body.path' });
    const job = this.#add(new ImageJob(req.jobId, 'import', req.imageId, statSync(req.path).size));
    void this.#run(job, () => this.#import(job, req));
    return job.progress;
  }

  send(req: AgentSendImageRequest): ImageJobProgress {
    const file = this.pathOf(req.imageId);
    const job = this.#add(new ImageJob(req.jobId, 'send', req.imageId, statSync(file).size));
    void this.#run(job, () => this.#send(job, req, file));
    return job.progress;
  }

  receive(req: AgentReceiveImageRequest): ImageJobProgress {
    const job = this.#add(new ImageJob(req.jobId, 'receive', req.imageId));
    const have = this.#meta(req.imageId);
    if (have) {
      job.done(have.facts);
      return job.progress;
    }
    const store = this.store();
    const key = storeKey(req.imageId);
    // A crash after the commit but before the library file: the chunks are all here already.
    const staging = store.get(key, STORE_SEQ) ? undefined : store.begin(key, STORE_SEQ);
    if (!staging) {
      void this.#run(job, () => this.#finish(job, req.imageId, req.format));
      return job.progress;
    }
    void this.#run(job, () => this.#receive(job, req, staging));
    return job.progress;
  }

  close(): void {
    for (const job of this.#jobs.values()) job.abort();
  }

  async #run(job: ImageJob, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      job.fail(err);
      log('image job %s (%s of %s) failed: %s', job.progress.id, job.progress.kind, job.progress.imageId, err instanceof Error ? err.message : String(err));
    }
  }

  async #import(job: ImageJob, req: AgentImportRequest): Promise<void> {
    const { format, virtualSize } = await detectImage(req.path, 'body.path', job.signal);
    const store = this.store();
    const staging = store.begin(storeKey(req.imageId), STORE_SEQ);
    try {
      const file = await chunkFile(req.path, staging, job);
      const storedBytes = file.chunks.filter((c) => c !== null).length * CHUNK_BYTES;
      staging.commit({ vm: storeKey(req.imageId), uuid: req.imageId, seq: STORE_SEQ, takenAt: new Date().toISOString(), spec: {}, files: [file], meta: { format, virtualSize } });
      job.update({ facts: { format, virtualSize, sizeBytes: file.size, storedBytes } });
    } catch (err) {
      staging.abort();
      throw err;
    }
    await this.#finish(job, req.imageId, format);
  }

  /** Writes the library file from the store (every chunk verified) and its meta; ends the job. */
  async #finish(job: ImageJob, imageId: string, format: ImageFormat): Promise<void> {
    const cp = this.store().get(storeKey(imageId), STORE_SEQ);
    const file = cp?.manifest.files.find((f) => f.name === STORE_FILE);
    if (!cp || !file) throw new FerryError('INTERNAL', `image ${imageId} is not in the chunk store`);
    const dest = imageFile(this.ctx.dataDir, imageId);
    const tmp = `${dest}.tmp-${randomUUID().slice(0, 8)}`;
    await this.store().materialize(storeKey(imageId), STORE_SEQ, STORE_FILE, tmp, { signal: job.signal });
    renameSync(tmp, dest);
    const virtualSize = typeof cp.manifest.meta.virtualSize === 'number' ? cp.manifest.meta.virtualSize : file.size;
    const facts: ImageFacts = { format, virtualSize, sizeBytes: file.size, storedBytes: file.chunks.filter((c) => c !== null).length * CHUNK_BYTES };
    writeFileSync(imageMetaFile(this.ctx.dataDir, imageId), JSON.stringify({ imageId, format, facts } satisfies HeldMeta));
    job.done(facts);
    log('image %s (%s, %d bytes) held on %s', imageId, format, file.size, this.ctx.hostName);
  }

  async #send(job: ImageJob, req: AgentSendImageRequest, path: string): Promise<void> {
    const meta = this.#meta(req.imageId)!;
    const s = await this.ctx.plane.connect(req.targetDataUrl, req.targetHost, { kind: 'replication', sessionId: req.jobId, sourceHost: this.ctx.hostName }, { mode: 'chunked', signal: job.signal });
    s.closed.catch(() => undefined);
    try {
      const header = { vm: storeKey(req.imageId), uuid: req.imageId, seq: STORE_SEQ, takenAt: new Date().toISOString(), spec: {}, meta: { format: meta.format, virtualSize: meta.facts.virtualSize } };
      const v = await sendFiles(s, [{ name: STORE_FILE, path, size: meta.facts.sizeBytes }], header, (n) => job.addBytes(n));
      job.update({ newBytes: v.newBytes ?? 0 });
      s.close();
      await s.closed.catch(() => undefined);
      job.done(meta.facts);
    } catch (err) {
      s.destroy(err instanceof Error ? err : undefined);
      throw err;
    }
  }

  #receive(job: ImageJob, req: AgentReceiveImageRequest, staging: Staging): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let ended = false;
      const end = (err?: unknown): void => {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        this.ctx.plane.unexpect(req.jobId);
        if (err !== undefined) {
          staging.abort();
          reject(err);
        } else resolve();
      };
      const timer = setTimeout(() => end(new FerryError('TIMEOUT', `no image session from ${req.fromHost} within ${SESSION_WAIT_MS / 1000} s`)), SESSION_WAIT_MS);
      job.signal.addEventListener('abort', () => end(job.signal.reason), { once: true });
      const onSession = (s: DataSession): void => {
        clearTimeout(timer);
        job.signal.addEventListener('abort', () => s.destroy(job.signal.reason as Error), { once: true });
        receiveFiles(s, staging, (n) => job.addBytes(n))
          .then(async (r) => {
            job.update({ newBytes: r.newBytes, bytesTotal: r.manifest.files[0]?.size ?? 0 });
            await s.closed.catch(() => undefined);
            ended = true;
            this.ctx.plane.unexpect(req.jobId);
            await this.#finish(job, req.imageId, req.format);
            resolve();
          })
          .catch((err: unknown) => {
            s.destroy(err instanceof Error ? err : undefined);
            end(err);
          });
      };
      const held = { hasChunk: (id: Buffer) => staging.hasChunk(id), getChunk: (id: Buffer) => this.store().getChunk(id) };
      this.ctx.plane.expect(req.jobId, req.fromHost, onSession, { kind: 'replication', store: held });
    });
  }

  #meta(imageId: string): HeldMeta | undefined {
    try {
      const m = JSON.parse(readFileSync(imageMetaFile(this.ctx.dataDir, imageId), 'utf8')) as HeldMeta;
      return existsSync(imageFile(this.ctx.dataDir, imageId)) ? m : undefined;
    } catch {
      return undefined;
    }
  }

  #add(job: ImageJob): ImageJob {
    const id = job.progress.id;
    if (this.#jobs.has(id)) throw new FerryError('CONFLICT', `image job ${id} already exists on this host`);
    this.#jobs.set(id, job);
    for (const [old, j] of this.#jobs) {
      if (this.#jobs.size <= MAX_KEPT_JOBS) break;
      if (!j.live) this.#jobs.delete(old);
    }
    return job;
  }
}

/** Whether `spec` layers a disk on the image or boots its kernel or initrd. */
export function usesImage(spec: { boot: { kind: string; kernel?: unknown; initrd?: unknown }; disks: { fromImage?: { id?: string } }[] }, imageId: string): boolean {
  const ref = (r: unknown): boolean => typeof r === 'object' && r !== null && (r as { id?: string }).id === imageId;
  return (spec.boot.kind === 'image' && (ref(spec.boot.kernel) || ref(spec.boot.initrd))) || spec.disks.some((d) => d.fromImage?.id === imageId);
}
