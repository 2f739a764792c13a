// Synthetic load traces for the balancing simulation, from a seed: hosts, VMs grouped in services,
// and each VM's CPU and network demand over time — a diurnal wave per service, noise, bursts that
// multiply a whole service's demand for some minutes (the service's VMs start out on one host, so
// a burst makes a hotspot), short spikes of the same kind that pass within a few samples (what the
// k-of-n rule is for), and a few long-lived hot VMs. Memory from a realistic mix.
import { rng } from '../../src/testing/seeded-random.js';

export interface TraceOptions {
  seed: number;
  hosts: number;
  vms: number;
  /** Simulated time and the sample period. */
  hours: number;
  tickSec: number;
  /** Bursts started per simulated hour, cluster-wide. */
  burstsPerHour: number;
  /** Short spikes (one to three samples) started per simulated hour, cluster-wide. */
  spikesPerHour: number;
  /** Share of VMs that are hot for the whole trace. */
  hotVmShare: number;
}

export const DEFAULT_TRACE: TraceOptions = { seed: 1, hosts: 200, vms: 4000, hours: 8, tickSec: 10, burstsPerHour: 24, spikesPerHour: 120, hotVmShare: 0.01 };

export interface SimHostSpec {
  name: string;
  cpus: number;
  memoryMiB: number;
  netBytesPerSec: number;
}

export interface SimVmSpec {
  name: string;
  memoryMiB: number;
  vcpus: number;
  service: number;
  /** Mean CPU demand (cores) and network demand (bytes/s) before the wave, noise and bursts. */
  cpu: number;
  net: number;
  residentShare: number;
  /** Memory the guest dirties per busy core. */
  dirtyPerCore: number;
  /** What the cost model cannot see (page content, bursty writes): actual bytes = model × this. */
  costFactor: number;
  /** Where the VM starts. */
  host: number;
}

export interface Burst {
  service: number;
  fromTick: number;
  toTick: number;
  factor: number;
}

export interface Trace {
  opts: TraceOptions;
  hosts: SimHostSpec[];
  vms: SimVmSpec[];
  /** Per service: diurnal phase (radians) and amplitude. */
  services: { phase: number; amplitude: number }[];
  bursts: Burst[];
  ticks: number;
}

const MIB = 1024 * 1024;
/** Memory sizes (MiB), vCPUs and how common each is. */
const MIX: { mib: number; vcpus: number; share: number }[] = [
  { mib: 512, vcpus: 1, share: 0.2 },
  { mib: 1024, vcpus: 1, share: 0.25 },
  { mib: 2048, vcpus: 2, share: 0.25 },
  { mib: 4096, vcpus: 2, share: 0.15 },
  { mib: 8192, vcpus: 4, share: 0.1 },
  { mib: 16384, vcpus: 8, share: 0.05 },
];
const DAY_SEC = 86_400;
export const HOST_CPUS = 32;
export const HOST_MEMORY_MIB = 128 * 1024;
export const LINK_BYTES_PER_SEC = 1.25e9;

export function generateTrace(o: TraceOptions = DEFAULT_TRACE): Trace {
  const r = rng(o.seed);
  const between = (a: number, b: number) => a + r() * (b - a);
  const hosts = Array.from({ length: o.hosts }, (_, i) => ({ name: `h${String(i).padStart(4, '0')}`, cpus: HOST_CPUS, memoryMiB: HOST_MEMORY_MIB, netBytesPerSec: LINK_BYTES_PER_SEC }));
  const vms: SimVmSpec[] = [];
  const services: Trace['services'] = [];
  // Services of 3–8 VMs, each placed on one host while it has room (first fit from a random host):
  // co-located services are what makes a burst a hotspot.
  const usedMiB = new Array<number>(o.hosts).fill(0);
  while (vms.length < o.vms) {
    const service = services.length;
    services.push({ phase: between(0, 2 * Math.PI), amplitude: between(0.1, 0.4) });
    const size = Math.min(3 + Math.floor(r() * 6), o.vms - vms.length);
    let host = Math.floor(r() * o.hosts);
    for (let i = 0; i < size; i++) {
      let x = r();
      const m = MIX.find((k) => (x -= k.share) < 0) ?? MIX[MIX.length - 1]!;
      for (let tries = 0; usedMiB[host]! + m.mib > HOST_MEMORY_MIB * 0.6 && tries < o.hosts; tries++) host = (host + 1) % o.hosts;
      usedMiB[host]! += m.mib;
      const hot = r() < o.hotVmShare;
      vms.push({
        name: `vm${String(vms.length).padStart(5, '0')}`,
        memoryMiB: m.mib,
        vcpus: hot ? Math.max(m.vcpus, 8) : m.vcpus,
        service,
        cpu: hot ? between(5, 7.5) : m.vcpus * between(0.15, 0.55),
        net: between(1, 10) * MIB * (hot ? 5 : 1),
        residentShare: between(0.5, 1),
        dirtyPerCore: between(5, 60) * MIB,
        costFactor: between(0.8, 2.5),
        host,
      });
    }
  }
  const ticks = Math.round((o.hours * 3600) / o.tickSec);
  const bursts: Burst[] = [];
  const count = Math.round(o.burstsPerHour * o.hours);
  for (let i = 0; i < count; i++) {
    const fromTick = Math.floor(r() * ticks);
    bursts.push({ service: Math.floor(r() * services.length), fromTick, toTick: fromTick + Math.round((between(5, 30) * 60) / o.tickSec), factor: between(2, 4) });
  }
  for (let i = 0; i < Math.round(o.spikesPerHour * o.hours); i++) {
    const fromTick = Math.floor(r() * ticks);
    bursts.push({ service: Math.floor(r() * services.length), fromTick, toTick: fromTick + 1 + Math.floor(r() * 3), factor: between(2, 4) });
  }
  bursts.sort((a, b) => a.fromTick - b.fromTick);
  return { opts: o, hosts, vms, services, bursts, ticks };
}

/** Each VM's CPU (cores) and network (bytes/s) demand at `tick`, written into `cpu` and `net`. */
export function demandAt(t: Trace, tick: number, noise: () => number, cpu: Float64Array, net: Float64Array): void {
  const sec = tick * t.opts.tickSec;
  const boost = new Float64Array(t.services.length).fill(1);
  for (const b of t.bursts) {
    if (b.fromTick > tick) break;
    if (tick < b.toTick) boost[b.service]! *= b.factor;
  }
  const wave = t.services.map((s) => 1 + s.amplitude * Math.sin((2 * Math.PI * sec) / DAY_SEC + s.phase));
  t.vms.forEach((v, i) => {
    const f = wave[v.service]! * boost[v.service]! * (0.9 + 0.2 * noise());
    cpu[i] = Math.min(v.vcpus, v.cpu * f);
    net[i] = v.net * f;
  });
}
