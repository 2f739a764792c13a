// The image library (docs/images.md): the images with their format, sizes, the hosts that hold
// them and the VMs that use them (polled, and again when a task here ends); importing a file from
// a host (the task's progress); creating a VM from images with the CLI's options (--image,
// --kernel, --initrd, --append, --port, --guest-agent).
import { useEffect, useState } from 'preact/hooks';
import type { Task } from '../../contracts/controller-api.js';
import type { ImageRecord } from '../../contracts/images.js';
import { bytes } from '../../contracts/format.js';
import { api, API } from '../api.js';
import { remember, taskEnded, TaskStatus } from '../components/task-status.js';
import { href } from '../router.js';
import * as store from '../store.js';

const POLL_MS = 3000;

function useForm<T extends Record<string, string | boolean>>(init: T) {
  const [f, setF] = useState(init);
  const field = (k: keyof T) => ({ value: f[k] as string, onInput: (e: Event) => setF({ ...f, [k]: (e.target as HTMLInputElement).value }) });
  return { f, setF, field };
}

/** Runs `post`, keeping its task to show and its error to say. */
function useSubmit() {
  const [error, setError] = useState<string | undefined>();
  const [task, setTask] = useState<{ id: string; what: string } | undefined>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event, what: string, post: () => Promise<Task>): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      setTask({ id: remember(await post()).id, what });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return { error, task, busy, submit };
}

function ImportImage() {
  const { f, field } = useForm({ name: '', path: '', host: '' });
  const s = useSubmit();
  return (
    <section class="panel" aria-labelledby="import-title">
      <h2 id="import-title">Import an image</h2>
      <form class="create-form" onSubmit={(e) => void s.submit(e, `Import ${f.name}`, () => api.post<Task>(`${API}/images`, { name: f.name.trim(), path: f.path.trim(), ...(f.host ? { host: f.host } : {}) }))}>
        <label>Name<input data-testid="import-name" required pattern="[a-z0-9][a-z0-9._\-]{0,62}" placeholder="debian-12" {...field('name')} /></label>
        <label>File on the host<input data-testid="import-path" required pattern="/.*" placeholder="/var/lib/ferry/images/debian.qcow2" {...field('path')} /></label>
        <label>Host
          <select data-testid="import-host" {...field('host')}>
            <option value="">any host that is up</option>
            {store.hosts.names.value.map((n) => <option value={n}>{n}</option>)}
          </select>
        </label>
        <button type="submit" class="primary" data-testid="import-submit" disabled={s.busy}>Import</button>
      </form>
      <p class="hint">The format comes from the file's content (qcow2, raw, a kernel or an initrd). The file must be under a directory the host's agent allows for images (its data directory's <code>images/</code> by default).</p>
      {s.error && <p class="error" role="alert">{s.error}</p>}
      {s.task && <TaskStatus key={s.task.id} id={s.task.id} label={s.task.what} done="imported" />}
    </section>
  );
}

function CreateFromImage({ images }: { images: ImageRecord[] }) {
  const { f, field, setF } = useForm({ name: '', memory: '512', image: '', kernel: '', initrd: '', append: 'console=ttyS0 root=/dev/vda', ports: '', host: '', guestAgent: false as boolean });
  const s = useSubmit();
  const of = (...formats: string[]) => images.filter((i) => formats.includes(i.format));
  const body = () => {
    const ports = f.ports.split(/[ ,]+/).filter(Boolean).map(Number);
    return {
      name: f.name.trim(),
      memoryMiB: Number(f.memory),
      ...(f.kernel ? { boot: { kind: 'image', kernel: { name: f.kernel }, ...(f.initrd ? { initrd: { name: f.initrd } } : {}), ...(f.append.trim() ? { cmdline: f.append.trim() } : {}) } } : f.image ? { boot: { kind: 'disk' } } : {}),
      ...(f.image ? { disks: [{ fromImage: { name: f.image } }] } : {}),
      ...(ports.length > 0 ? { nics: [{ network: 'user', forwardPorts: ports }] } : {}),
      ...(f.guestAgent ? { guestAgent: true } : {}),
      ...(f.host ? { host: f.host } : {}),
    };
  };
  return (
    <section class="panel create-vm" aria-labelledby="create-image-title">
      <h2 id="create-image-title">Create a VM from images</h2>
      <form class="create-form" onSubmit={(e) => void s.submit(e, `Create ${f.name}`, () => api.post<Task>(`${API}/vms`, body()))}>
        <label>Name<input data-testid="image-vm-name" required pattern="[a-z][a-z0-9\-]{0,62}" placeholder="deb1" {...field('name')} /></label>
        <label>Memory (MiB)<input data-testid="image-vm-memory" type="number" min={32} required {...field('memory')} /></label>
        <label>Disk image
          <select data-testid="image-vm-image" {...field('image')}>
            <option value="">none</option>
            {of('qcow2', 'raw').map((i) => <option value={i.name}>{i.name}</option>)}
          </select>
        </label>
        <label>Kernel
          <select data-testid="image-vm-kernel" {...field('kernel')}>
            <option value="">the image's boot loader</option>
            {of('kernel').map((i) => <option value={i.name}>{i.name}</option>)}
          </select>
        </label>
        <label>Initrd
          <select data-testid="image-vm-initrd" {...field('initrd')} disabled={!f.kernel}>
            <option value="">none</option>
            {of('initrd').map((i) => <option value={i.name}>{i.name}</option>)}
          </select>
        </label>
        <label>Kernel command line<input data-testid="image-vm-append" disabled={!f.kernel} {...field('append')} /></label>
        <label>Guest ports to forward<input data-testid="image-vm-ports" placeholder="22, 80" pattern="[0-9 ,]*" {...field('ports')} /></label>
        <label>Host
          <select data-testid="image-vm-host" {...field('host')}>
            <option value="">automatic placement</option>
            {store.hosts.names.value.map((n) => <option value={n}>{n}</option>)}
          </select>
        </label>
        <label class="check"><input type="checkbox" data-testid="image-vm-guest-agent" checked={f.guestAgent} onChange={(e) => setF({ ...f, guestAgent: (e.target as HTMLInputElement).checked })} /> qemu-guest-agent channel</label>
        <button type="submit" class="primary" data-testid="image-vm-submit" disabled={s.busy}>Create</button>
      </form>
      {s.error && <p class="error" role="alert">{s.error}</p>}
      {s.task && <TaskStatus key={s.task.id} id={s.task.id} label={s.task.what} done="created and started" />}
    </section>
  );
}

function Library({ images }: { images: ImageRecord[] | undefined }) {
  if (!images) return <p class="muted">Loading…</p>;
  if (images.length === 0) return <p class="muted">The library is empty: import a file above, or <code>ferry image import FILE NAME</code>.</p>;
  return (
    <table class="vm-table" data-testid="image-table">
      <thead><tr><th>Name</th><th>Format</th><th>Virtual size</th><th>Stored</th><th>Hosts</th><th>Used by</th></tr></thead>
      <tbody>
        {images.map((i) => (
          <tr data-testid={`image-${i.name}`}>
            <td>{i.name}</td>
            <td>{i.format}</td>
            <td>{bytes(i.virtualSize)}</td>
            <td>{bytes(i.storedBytes)}</td>
            <td>{i.hosts.join(', ')}</td>
            <td>{i.usedBy.length === 0 ? <span class="muted">none</span> : i.usedBy.map((v) => <a href={href({ view: 'vm', name: v })}>{v} </a>)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ImagesView() {
  const [images, setImages] = useState<ImageRecord[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  // Any task that ends may have changed the library (an import, a fetch during a create).
  const ended = store.tasks.names.value.filter((id) => { const t = store.tasks.get(id)?.value; return t !== undefined && taskEnded(t.state); }).length;
  useEffect(() => {
    const refresh = (): void => void api.get<ImageRecord[]>(`${API}/images`).then((l) => (setImages(l), setError(undefined)), (err: Error) => setError(err.message));
    refresh();
    const poll = setInterval(refresh, POLL_MS);
    return () => clearInterval(poll);
  }, [ended]);
  return (
    <section aria-labelledby="images-title">
      <h1 id="images-title">Images</h1>
      {error && <p class="error" role="alert">{error}</p>}
      <Library images={images} />
      <ImportImage />
      <CreateFromImage images={images ?? []} />
    </section>
  );
}
