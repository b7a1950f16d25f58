/**
 * `eddy replay` reads through a reader group of its own, so beside another process running the same version both
 * would own every task and fence each other. `refuseConcurrentRun` refuses it before any write, from the open run
 * records (embedded log; records written by hand as another host's processes write them): a replay beside any open
 * run of the version, a worker or `eddy run` beside an open replay; runs of other versions, ended runs and dead
 * records (no heartbeat for `KILLED_AFTER_MS`) do not count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refuseConcurrentRun, VersionRunningError } from '../../src/replay/replay.js';
import { ensureRunsTopic, KILLED_AFTER_MS, type RunRecord, writeRunRecord } from '../../src/runs/record.js';
import { tempBackend } from '../helpers/backend.js';
import { runRecord } from '../helpers/run-record.js';
import { buildDelays } from '../helpers/versions.js';

const v1 = buildDelays(1);
const v2 = buildDelays(2, 14);

function run(kind: RunRecord['kind'], version: number, updatedMs: number, ended = false): RunRecord {
  return {
    ...runRecord({
      runId: `delays.v${version}@${kind}-${updatedMs}`,
      host: 'another-host.example',
      pid: 1,
      updatedMs,
      end: ended ? { atMs: updatedMs, reason: 'idle' } : undefined,
    }),
    kind,
    version,
  };
}

describe('refuseConcurrentRun', () => {
  const env = tempBackend('eddy-concurrent-run-');
  beforeAll(async () => {
    await ensureRunsTopic(env.log);
  });
  afterAll(() => env.destroy());

  it('no open run: nothing refused', async () => {
    await expect(refuseConcurrentRun(env.log, v2, 'replay')).resolves.toBeUndefined();
  });

  it('a replay beside a worker running the version is refused, naming the run; eddy run beside it is not', async () => {
    const now = Date.now();
    await writeRunRecord(env.log, run('worker', 2, now));
    const err = await refuseConcurrentRun(env.log, v2, 'replay').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VersionRunningError);
    expect((err as VersionRunningError).code).toBe('VERSION_RUNNING');
    expect((err as Error).message).toContain(
      `delays version 2 is already running: worker delays.v2@worker-${now} on another-host.example pid 1`,
    );
    expect((err as Error).message).toContain('`eddy versions delays`');
    await expect(refuseConcurrentRun(env.log, v2, 'run')).resolves.toBeUndefined();
    // another version's run does not count
    await expect(refuseConcurrentRun(env.log, v1, 'replay')).resolves.toBeUndefined();
  });

  it('eddy run beside an open replay is refused; an ended replay and a dead one are not', async () => {
    const now = Date.now();
    await writeRunRecord(env.log, run('replay', 1, now - KILLED_AFTER_MS - 1_000));
    await writeRunRecord(env.log, run('replay', 1, now - 1_000, true));
    await expect(refuseConcurrentRun(env.log, v1, 'run')).resolves.toBeUndefined();
    await writeRunRecord(env.log, run('replay', 1, now));
    const err = await refuseConcurrentRun(env.log, v1, 'run').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VersionRunningError);
    expect((err as Error).message).toContain(`replay delays.v1@replay-${now}`);
    expect((err as Error).message).toContain('Let the replay finish');
  });
});
