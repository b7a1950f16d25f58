/**
 * Redrive and replay agree (issue 15 item 1) on the embedded log: see tests/helpers/redrive-suite.ts. Here also: the
 * warning of a redrive into closed windows, checked against what the re-run then dead-letters as late; and a copy
 * whose original retention deleted, which a replaying version processes.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { partitionFor } from '../../src/log/partitioner.js';
import { readStore } from '../../src/runtime/inspect.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import { readDeadLetters, redrive } from '../../src/tools/dlq.js';
import { describeLateRedrives, lateRedrives } from '../../src/tools/redrive-late.js';
import { tempBackend } from '../helpers/backend.js';
import {
  buildRedrive,
  expected,
  HOUR_MS,
  loadInput,
  MISSING,
  orders,
  readAll,
  redriveNames,
  runUntilIdle,
  writeCustomers,
} from '../helpers/redrive.js';
import { redriveReplaySuite } from '../helpers/redrive-suite.js';

describe('redrive then replay (embedded log)', () => {
  redriveReplaySuite(async () => {
    const b = tempBackend('eddy-redrive-');
    return { env: b, names: redriveNames(), close: () => b.destroy() };
  });
});

describe('redrive: windows already closed, originals deleted by retention (embedded log)', () => {
  const envs: ReturnType<typeof tempBackend>[] = [];
  afterAll(async () => {
    for (const e of envs) await e.destroy();
  });
  const names = redriveNames();
  const COUNT = 300;
  const missing = orders(COUNT).filter((o) => o.order.customer === MISSING);

  it('the warning before writing names the closed windows, and counts exactly the copies then dead-lettered as late', async () => {
    const env = tempBackend('eddy-redrive-late-');
    envs.push(env);
    const v1 = buildRedrive(names, 1, 0); // no grace: every window closes when the next hour starts
    await loadInput(env, names, COUNT);
    await runUntilIdle(env, [v1]);
    await writeCustomers(env, names, [MISSING]);
    const dls = await readDeadLetters(env.log, v1.deadLetterTopic);
    // Independent: the window processor's stream time in the missing customer's partition is the largest event time
    // of the orders it joined there; a copy is late when its hour ended at or before it.
    const partitions = (await env.log.describeTopic(names.orders))!.partitions;
    const key = await AvroSerde.create<string>(env.registry, `${names.orders}-key`, 'string');
    const partitionOf = (c: string) => partitionFor(key.serialize(c), partitions);
    const streamTimeMs = Math.max(
      ...orders(COUNT)
        .filter((o) => o.order.customer !== MISSING && partitionOf(o.order.customer) === partitionOf(MISSING))
        .map((o) => o.timestamp),
    );
    const lateOnes = missing.filter((o) => o.timestamp - (o.timestamp % HOUR_MS) + HOUR_MS <= streamTimeMs);
    expect(lateOnes.length).toBeGreaterThan(5);
    expect(lateOnes.length).toBeLessThanOrEqual(missing.length);
    const late = await lateRedrives(env.log, v1, dls);
    expect(late).toHaveLength(1);
    expect(late[0]).toMatchObject({ processor: 'per_customer_hour', count: lateOnes.length, lowerBound: false });
    expect(late[0].windows.map((w) => w.startMs)).toEqual([
      ...new Set(lateOnes.map((o) => o.timestamp - (o.timestamp % HOUR_MS))),
    ]);
    expect(describeLateRedrives(late)[0]).toContain(
      `${lateOnes.length} re-driven record(s) fall in windows of per_customer_hour`,
    );
    let warned: string[] = [];
    await redrive({
      log: env.log,
      topic: v1.deadLetterTopic,
      sourceTopics: new Set([names.orders]),
      onPlan: async (p) => {
        warned = describeLateRedrives(await lateRedrives(env.log, v1, p.send));
      },
    });
    expect(warned).toHaveLength(1);
    const again = await runUntilIdle(env, [v1]);
    expect(again.statsOf(1)!.lateBy.get('per_customer_hour')).toBe(lateOnes.length);
  }, 300_000);

  it('a version that never saw the original (deleted by retention) processes the copy', async () => {
    const env = tempBackend('eddy-redrive-deleted-');
    envs.push(env);
    const v1 = buildRedrive(names, 1);
    const v2 = buildRedrive(names, 2);
    await loadInput(env, names, COUNT);
    await runUntilIdle(env, [v1]);
    await writeCustomers(env, names, [MISSING]);
    await redrive({ log: env.log, topic: v1.deadLetterTopic, sourceTopics: new Set([names.orders]) });
    const copies = (await readAll(env.log, names.orders)).filter((r) => r.headers['eddy.redrive.of'] !== undefined);
    const { partition } = copies[0];
    const firstCopy = Math.min(...copies.map((c) => c.offset));
    await env.log.deleteRecords({ topic: names.orders, partition }, firstCopy); // the originals' partition, up to the copies
    const replay = await runUntilIdle(env, [v2]);
    expect(replay.statsOf(2)!.totalRedrivenSkipped()).toBe(0);
    const rows = await readStore({
      stateDir: env.stateDir,
      topology: v2,
      store: v2.stores.get('per_customer_hour')!,
      registry: env.registry,
    });
    const want = expected(missing).hours;
    const got = rows
      .filter((r) => r.customer === MISSING)
      .map((r) => [`${r.customer}@${Date.parse(String(r.window_start))}`, { orders: r.orders, total: r.total }]);
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(want));
  }, 300_000);
});
