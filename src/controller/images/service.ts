// The image library's controller side (docs/images.md): the catalogue, imports as tasks, removal,
// resolving the names a VM spec uses, and staging images on a host before it needs them.
//
// Staging (`ensureOn`): for each image the host lacks, the host expects a replication session
// (agent images/receive) and a host that holds the image sends it (images/send); the receiver's
// chunk store already holds some chunks (other images, DR replicas) and asks only for the rest.
// The job is polled until the host holds the image; its progress is the task's.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ImageJobProgress, ImageRecord, ImportImageRequest } from '../../contracts/images.js';
import type { Task } from '../../contracts/controller-api.js';
import type { VmSpec, VmSpecInput } from '../../contracts/vm-spec.js';
import { FerryError } from '../../contracts/errors.js';
import { bytes } from '../../contracts/format.js';
import type { ClusterState } from '../cluster-state.js';
import { ConflictError, InvalidRequestError, NotFoundError } from '../errors.js';
import type { TaskContext } from '../task.js';
import { ImageAgent } from './agent-io.js';
import { imageNames, specImages } from './refs.js';
import type { ImagesRepo, StoredImage } from './repo.js';

const POLL_MS = 250;
const MAX_FETCHES_KEPT = 20;
/** A host may hold an image for the DR site or a migration; these need only what boots. */
export type StagePurpose = 'create' | 'boot';

export const imageTarget = (name: string): string => `image:${name}`;

export class ImageService {
  /** Fetches under way, by `host/imageId`: a second VM needing the same image waits for the first fetch. */
  readonly #inflight = new Map<string, Promise<void>>();

  constructor(
    private readonly state: ClusterState,
    private readonly repo: ImagesRepo,
    private readonly secret: string,
    /** Fires when this controller stops leading: no agent is called after. */
    private readonly stopped?: AbortSignal,
  ) {}

  list(): ImageRecord[] {
    return this.repo.list().map((img) => this.#withUsers(img));
  }

  get(name: string): ImageRecord {
    const img = this.repo.get(name);
    if (!img) throw new NotFoundError(`image ${name}`);
    return this.#withUsers(img);
  }

  import(req: ImportImageRequest): Task {
    if (this.repo.get(req.name)) throw new ConflictError(`an image named ${req.name} already exists`);
    const host = req.host ?? this.state.hosts.list().find((h) => h.state === 'up')?.info.name;
    if (!host) throw new FerryError('HOST_DOWN', 'no host is up to import the image');
    const hostRec = this.state.requireHostUp(host);
    const imageId = randomUUID();
    return this.state.runner.submit({ kind: 'image.import', target: imageTarget(req.name), message: `importing ${req.path} on ${host}` }, async (t) => {
      const agent = this.#agent(hostRec.info.url);
      const jobId = randomUUID();
      const first = await agent.import({ jobId, imageId, path: req.path }, t.signal);
      const done = await this.#follow(agent, first, t, 0, 100, `importing ${req.name} on ${host}`);
      if (!done.facts) throw new FerryError('INTERNAL', `import of ${req.name} ended without the image's facts`);
      if (this.repo.get(req.name)) throw new ConflictError(`an image named ${req.name} was imported meanwhile`);
      const img: StoredImage = { name: req.name, id: imageId, createdAt: new Date().toISOString(), hosts: [host], ...done.facts };
      this.repo.put(img);
      return this.#withUsers(img);
    });
  }

  /** Refused (409) while a VM's spec names the image; removes every host's copy it can reach. */
  async remove(name: string): Promise<void> {
    const img = this.repo.get(name);
    if (!img) throw new NotFoundError(`image ${name}`);
    this.state.runner.assertIdle(imageTarget(name));
    const users = this.#users(name);
    if (users.length > 0) throw new ConflictError(`image ${name} is used by ${users.join(', ')}`);
    for (const host of img.hosts) {
      const h = this.state.hosts.get(host);
      if (h?.state !== 'up') continue; // its copy stays behind, unreferenced; the catalogue no longer names it
      await this.#agent(h.info.url).remove(img.id).catch((err: unknown) => {
        if (!(err instanceof FerryError && err.code === 'NOT_FOUND')) throw err;
      });
    }
    this.repo.delete(name);
  }

  /** Fills in each image reference of a new VM's spec (id, format, size); 4xx naming the field. */
  resolve<S extends Pick<VmSpecInput, 'boot' | 'disks'>>(spec: S): S {
    for (const s of specImages(spec)) {
      const img = this.repo.get(s.ref.name);
      if (!img) throw new InvalidRequestError(`body.${s.field}.name`, `names no image in the library (${s.ref.name}; ferry image list)`);
      if (!s.accepts.includes(img.format)) throw new InvalidRequestError(`body.${s.field}.name`, `is a ${img.format} image; this place takes ${s.accepts.join(' or ')}`);
      Object.assign(s.ref, { id: img.id, format: img.format, virtualSize: img.virtualSize });
    }
    return spec;
  }

  /** Makes `host` hold the images `spec` needs for `purpose`, fetching what it lacks; progress into `t` between `from` and `to`. */
  async ensureOn(host: string, spec: Pick<VmSpec, 'boot' | 'disks'>, purpose: StagePurpose, signal: AbortSignal, t?: TaskContext, from = 0, to = 0): Promise<void> {
    const needed = specImages(spec).filter((s) => purpose === 'create' || !s.disk);
    const ids = [...new Map(needed.map((s) => [s.ref.id, s.ref])).values()];
    for (const [i, ref] of ids.entries()) {
      const img = this.repo.list().find((x) => x.id === ref.id);
      if (!img) throw new FerryError('NOT_FOUND', `image ${ref.name} (${ref.id ?? 'no id'}) is no longer in the library`);
      if (img.hosts.includes(host)) continue;
      const span = (to - from) / ids.length;
      const key = `${host}/${img.id}`;
      let p = this.#inflight.get(key);
      if (!p) {
        p = this.#fetch(img, host, signal, t, from + i * span, from + (i + 1) * span).finally(() => this.#inflight.delete(key));
        this.#inflight.set(key, p);
      }
      await p;
    }
  }

  async #fetch(img: StoredImage, host: string, signal: AbortSignal, t: TaskContext | undefined, from: number, to: number): Promise<void> {
    const target = this.state.requireHostUp(host);
    const sourceName = this.#pickSource(img, target.info.site);
    const source = this.state.requireHostUp(sourceName);
    if (!target.info.dataUrl) throw new FerryError('INVALID_STATE', `host ${host} has no data-plane endpoint yet`);
    const jobId = randomUUID();
    const t0 = performance.now();
    const receiver = this.#agent(target.info.url);
    const first = await receiver.receive({ jobId, imageId: img.id, fromHost: sourceName, format: img.format }, signal);
    if (first.state === 'running') {
      try {
        await this.#agent(source.info.url).send({ jobId, imageId: img.id, targetHost: host, targetDataUrl: target.info.dataUrl }, signal);
      } catch (err) {
        await receiver.abort(jobId).catch(() => undefined);
        throw err;
      }
    }
    const done = await this.#follow(receiver, first, t, from, to, `fetching image ${img.name} from ${sourceName} to ${host}`, signal);
    const now = this.repo.get(img.name);
    if (now && now.id === img.id && !now.hosts.includes(host)) {
      const fetch = { host, from: sourceName, newBytes: done.newBytes ?? 0, ms: Math.round(performance.now() - t0), at: new Date().toISOString() };
      this.repo.put({ ...now, hosts: [...now.hosts, host], fetches: [...(now.fetches ?? []), fetch].slice(-MAX_FETCHES_KEPT) });
    }
  }

  /** A host that holds the image and is up, one of the target's site first. */
  #pickSource(img: StoredImage, site: string): string {
    const up = img.hosts.map((h) => this.state.hosts.get(h)).filter((h) => h?.state === 'up' && h.info.dataUrl);
    const pick = up.find((h) => h!.info.site === site) ?? up[0];
    if (!pick) throw new FerryError('HOST_DOWN', `no host that holds image ${img.name} is up (${img.hosts.join(', ')})`);
    return pick.info.name;
  }

  /** Polls an agent's image job until it ends; its bytes become the task's progress. */
  async #follow(agent: ImageAgent, first: ImageJobProgress, t: TaskContext | undefined, from: number, to: number, what: string, signal = t?.signal): Promise<ImageJobProgress> {
    let p = first;
    for (;;) {
      if (t && p.bytesTotal > 0) t.progress(from + ((to - from) * Math.min(p.bytesDone, p.bytesTotal)) / p.bytesTotal, `${what}: ${bytes(p.bytesDone) ?? '0 B'} of ${bytes(p.bytesTotal) ?? '0 B'}`);
      if (p.state === 'done') return p;
      if (p.state === 'failed') throw new FerryError('INTERNAL', `${what}: ${p.error ?? 'failed'}`);
      try {
        await sleep(POLL_MS, undefined, signal ? { signal } : {});
      } catch (err) {
        await agent.abort(p.id).catch(() => undefined);
        throw err;
      }
      p = await agent.job(p.id, signal);
    }
  }

  #users(name: string): string[] {
    return this.state.vms.list().filter((vm) => imageNames(vm.spec).includes(name)).map((vm) => vm.name);
  }

  #withUsers(img: StoredImage): ImageRecord {
    return { ...img, usedBy: this.#users(img.name) };
  }

  #agent(url: string): ImageAgent {
    return new ImageAgent(url, this.secret, this.stopped);
  }
}
