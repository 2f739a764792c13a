import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lastHeartbeat, parseHeartbeatLine, parseHeartbeats } from './heartbeat.js';

test('heartbeat lines parse with their fields; a line cut short does not count', () => {
  const text = 'Booting from ROM..\x1b[2Jferry-heartbeat seq=0 bad=0 wl=idle\nnoise\nferry-heartbeat seq=1 bad=2 dirtied_mib=12 disk=5\nferry-heartbeat seq=2 ba';
  const hbs = parseHeartbeats(text);
  assert.deepEqual(hbs.map((h) => [h.seq, h.bad]), [[0, 0], [1, 2]]);
  assert.equal(hbs[1]!.fields.dirtied_mib, '12');
  assert.equal(lastHeartbeat(text)?.seq, 1);
  assert.equal(lastHeartbeat('ferry-heartbeat seq=3 bad=0'), undefined, 'no newline yet');
  assert.equal(parseHeartbeatLine('ferry-heartbeat seq=3 bad=0')?.seq, 3);
  assert.equal(parseHeartbeatLine('ferry-heartbeat seq=x bad=0'), undefined);
  assert.equal(parseHeartbeatLine('ferry-heartbeat bad=0'), undefined);
});
