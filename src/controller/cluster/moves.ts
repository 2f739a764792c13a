// VMs being moved to another host — by a migration, a failover or a failback — while the task
// that moves them runs: the host each is moving to (its resources are held there as well as at
// the source), and whether the move has reached its switch-over, from which point the copy of
// record may be paused and no copy is safe to send clients to (service endpoints hold new
// clients meanwhile; `onSwitch` tells them when that starts and ends).
export class MoveRegistry {
  private readonly targets = new Map<string, string>();
  private readonly switching = new Set<string>();
  private readonly switchWatchers: ((vm: string) => void)[] = [];

  /**
   * Holds `vm`'s resources on `to` until `settled` settles; then the move, and its switch-over
   * if it began one, ends. Call in the same tick as the capacity check, so a second move to
   * the same host sees this one.
   */
  reserveUntil(vm: string, to: string, settled: Promise<unknown>): void {
    this.targets.set(vm, to);
    void settled
      .finally(() => {
        this.targets.delete(vm);
        this.endSwitch(vm);
      })
      .catch(() => undefined);
  }

  /** The host a VM is moving to, if it is. */
  movingTo(vm: string): string | undefined {
    return this.targets.get(vm);
  }

  /** A move of `vm` reached its switch-over: from here until `endSwitch` no copy is safe to send clients to. */
  beginSwitch(vm: string): void {
    if (this.switching.has(vm)) return;
    this.switching.add(vm);
    for (const w of this.switchWatchers) w(vm);
  }

  endSwitch(vm: string): void {
    if (!this.switching.delete(vm)) return;
    for (const w of this.switchWatchers) w(vm);
  }

  isSwitching(vm: string): boolean {
    return this.switching.has(vm);
  }

  /** `w` is told each time a VM starts or ends switching. */
  onSwitch(w: (vm: string) => void): void {
    this.switchWatchers.push(w);
  }
}
