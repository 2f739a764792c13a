import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HeartbeatSightings } from './downtime.js';

const beat = (seq: number): string => `ferry-heartbeat seq=${seq} bad=0 uptime=1\n`;

describe('observed downtime from heartbeat sightings', () => {
  it('is the largest stretch beyond the 1 s period across the switch', () => {
    const s = new HeartbeatSightings();
    s.see(beat(1) + beat(2), 'source', 0);
    s.see(beat(3), 'source', 1000);
    s.see('', 'target', 1500);
    s.see(beat(4), 'target', 2350); // seq 4 came 1350 ms after seq 3
    s.see(beat(4) + beat(5), 'target', 3350);
    assert.equal(s.observedDowntimeMs(), 350);
  });

  it('accounts for missed lines by their seq distance', () => {
    const s = new HeartbeatSightings();
    s.see(beat(7), 'source', 0);
    s.see(beat(9), 'target', 2200);
    assert.equal(s.observedDowntimeMs(), 200);
  });

  it('gives no number unless both hosts were seen beating', () => {
    const s = new HeartbeatSightings();
    s.see(beat(1) + beat(2), 'source', 0);
    assert.equal(s.observedDowntimeMs(), undefined);
    s.see('ferry-heartbeat seq=3', 'target', 900); // a half-written line does not count
    assert.equal(s.observedDowntimeMs(), undefined);
  });
});
