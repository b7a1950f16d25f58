/**
 * `planReplay` (src/replay/replay.ts) says a replay resumes only when the version has committed input positions: a
 * state directory alone (left, say, by a run of the same data directory on another backend) is none, and `eddy
 * replay` would otherwise print "resuming from its committed positions" and then read every input from the start.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { checkVersion } from '../../src/replay/registry.js';
import { planReplay } from '../../src/replay/replay.js';
import { tempBackend } from '../helpers/backend.js';
import { buildDelays } from '../helpers/versions.js';

const v1 = buildDelays(1);

describe('planReplay: resuming', () => {
  const env = tempBackend('eddy-replay-plan-');
  beforeAll(async () => {
    await loadFlightData({ log: env.log, registry: env.registry, limit: 200 });
  }, 60_000);
  afterAll(async () => {
    await env.destroy();
  });

  it('a state directory without committed positions: not resuming; with a committed position: resuming', async () => {
    const rec = await checkVersion(env.log, v1);
    mkdirSync(join(env.stateDir, 'delays.v1', '0_0'), { recursive: true });
    const stale = await planReplay(env.log, v1, rec, { stateDir: env.stateDir, reset: false });
    expect(stale.plan.stateDirExists).toBe(true);
    expect(stale.resuming).toBe(false);

    const producer = env.log.producer({ transactionalId: 'replay-plan-test' });
    const tx = await producer.transaction();
    tx.sendOffsets(v1.groupId, [{ topic: 'flights', partition: 0, offset: 1 }]);
    await tx.commit();
    await producer.close();
    expect((await planReplay(env.log, v1, rec, { stateDir: env.stateDir, reset: false })).resuming).toBe(true);
    expect((await planReplay(env.log, v1, rec, { stateDir: env.stateDir, reset: true })).resuming).toBe(false);
  });
});
