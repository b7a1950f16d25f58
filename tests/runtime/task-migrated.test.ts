/**
 * A repartition position below the log start is a task that moved when the version's group committed past it (the
 * new owner purged below its commit), and records lost when nobody did (`explainRecordsDeleted`). The worker rides
 * out the first (`TASK_MIGRATED`, retriable: it re-joins) and stops on the second. On a real embedded log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { EddyError, RecordsDeletedError, TaskMigratedError } from '../../src/errors.js';
import { explainRecordsDeleted } from '../../src/runtime/migrated.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { internalSourceTopicsOf, sourceTopicsOf } from '../../src/runtime/version.js';
import { tempBackend } from '../helpers/backend.js';
import { buildDelays } from '../helpers/versions.js';

const v1 = buildDelays(1, 15);

describe('explainRecordsDeleted', () => {
  const env = tempBackend('eddy-migrated-');
  const repartition = [...internalSourceTopicsOf(v1)][0];
  const source = sourceTopicsOf(v1).find((t) => !internalSourceTopicsOf(v1).has(t))!;

  beforeAll(async () => {
    await loadFlightData({ log: env.log, registry: env.registry, limit: 100 });
    await new TopologyRunner(v1, { log: env.log, registry: env.registry, stateDir: env.stateDir }).setup();
    const producer = env.log.producer();
    const records = (partition: number) =>
      Array.from({ length: 10 }, (_, i) => ({
        topic: repartition,
        partition,
        key: Buffer.from(`k${i}`),
        value: Buffer.from(`v${i}`),
        timestamp: i,
      }));
    await producer.send([...records(0), ...records(1)]);
    await producer.close();
    // partition 0: the group committed 6 and the records below it were purged (a new owner's commit)
    // partition 1: records below 6 deleted, the group committed only 3 (lost to retention)
    await env.log.commitOffsets(v1.groupId, [
      { topic: repartition, partition: 0, offset: 6 },
      { topic: repartition, partition: 1, offset: 3 },
    ]);
    await env.log.deleteRecords({ topic: repartition, partition: 0 }, 6);
    await env.log.deleteRecords({ topic: repartition, partition: 1 }, 6);
  });

  afterAll(() => env.destroy());

  it('a position the group committed past is a task that moved: retriable, naming the commit', async () => {
    expect(repartition).toMatch(/\.repartition$/);
    const deleted = new RecordsDeletedError(repartition, 0, 0, 6);
    const err = await explainRecordsDeleted(env.log, [v1], deleted);
    expect(err).toBeInstanceOf(TaskMigratedError);
    expect((err as TaskMigratedError).retriable).toBe(true);
    expect((err as TaskMigratedError).code).toBe('TASK_MIGRATED');
    expect((err as Error).message).toContain(`${repartition}:0`);
    expect((err as TaskMigratedError).details).toMatchObject({ groupId: v1.groupId, position: 0, committed: 6 });
    // as it arrives from a version thread: a plain EddyError with the code and details
    const wire = new EddyError('RECORDS_DELETED', 'records deleted', { details: { ...deleted.details } });
    expect(await explainRecordsDeleted(env.log, [v1], wire)).toBeInstanceOf(TaskMigratedError);
  });

  it('records deleted below every commit stay lost, and so does a deletion on an input that is not internal', async () => {
    const lost = new RecordsDeletedError(repartition, 1, 3, 6);
    expect(await explainRecordsDeleted(env.log, [v1], lost)).toBe(lost);
    const input = new RecordsDeletedError(source, 0, 0, 6);
    expect(await explainRecordsDeleted(env.log, [v1], input)).toBe(input);
    const other = new Error('not a deletion');
    expect(await explainRecordsDeleted(env.log, [v1], other)).toBe(other);
  });
});
