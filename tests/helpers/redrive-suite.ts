/**
 * The redrive-then-replay suite (issue 15 item 1), run on each backend by tests/tools/redrive-replay.test.ts
 * (embedded log) and tests/kafka/redrive-replay.kafka.test.ts (real broker): dead-letter, fix the table, redrive,
 * run v1 again, replay v2; both versions equal an independent computation over the fixed input, v1 processes each
 * copy exactly once, and v2 skips every copy (counted) because it read the originals itself.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REDRIVE_SOURCE_HEADER, REDRIVE_VERSION_HEADER } from '../../src/runtime/redriven.js';
import { HEADERS } from '../../src/runtime/serdes.js';
import { readDeadLetters, redrive } from '../../src/tools/dlq.js';
import { lateRedrives } from '../../src/tools/redrive-late.js';
import {
  buildRedrive,
  expectEqualsIndependent,
  loadInput,
  MISSING,
  orders,
  type RedriveEnv,
  type RedriveNames,
  readAll,
  runUntilIdle,
  writeCustomers,
} from './redrive.js';

const COUNT = 700;

/** Declares the suite's tests in the calling `describe`; `open` gives a fresh environment, `close` ends it. */
export function redriveReplaySuite(
  open: () => Promise<{ env: RedriveEnv; names: RedriveNames; close(): Promise<void> }>,
) {
  let ctx: Awaited<ReturnType<typeof open>>;
  const missing = orders(COUNT).filter((o) => o.order.customer === MISSING).length;
  beforeAll(async () => {
    ctx = await open();
  }, 120_000);
  afterAll(async () => {
    await ctx?.close();
  });

  it('dead-letter, fix, redrive, run v1 again, replay v2: each record counted once by each version', async () => {
    const { env, names } = ctx;
    const v1 = buildRedrive(names, 1);
    const v2 = buildRedrive(names, 2);
    await loadInput(env, names, COUNT);
    expect(missing).toBeGreaterThan(10);

    const first = await runUntilIdle(env, [v1]);
    expect(first.statsOf(1)!.deadLetters.get('enrich')).toBe(missing);

    await writeCustomers(env, names, [MISSING]); // the fix
    const dls = await readDeadLetters(env.log, v1.deadLetterTopic);
    expect(await lateRedrives(env.log, v1, dls)).toEqual([]); // windows are still open: no warning
    const plan = await redrive({ log: env.log, topic: v1.deadLetterTopic, sourceTopics: new Set([names.orders]) });
    expect(plan.send).toHaveLength(missing);
    const copies = (await readAll(env.log, names.orders)).filter((r) => r.headers['eddy.redrive.of'] !== undefined);
    expect(copies).toHaveLength(missing);
    for (const c of copies) {
      expect(c.headers[REDRIVE_VERSION_HEADER].toString()).toBe(v1.groupId);
      const dl = dls.find((d) => d.coordinates === c.headers['eddy.redrive.of'].toString())!;
      expect(c.headers[REDRIVE_SOURCE_HEADER].toString()).toBe(
        `${names.orders}:${dl.record.headers[HEADERS.sourcePartition]}:${dl.record.headers[HEADERS.sourceOffset]}`,
      );
    }

    // v1 dead-lettered the originals: the copies are its second chance, processed once.
    const second = await runUntilIdle(env, [v1]);
    expect(second.statsOf(1)!.totalIn([names.orders])).toBe(missing);
    expect(second.statsOf(1)!.totalRedrivenSkipped()).toBe(0);
    expect(second.statsOf(1)!.totalDeadLetters()).toBe(0);
    await expectEqualsIndependent(env, v1, names, COUNT);

    // v2 replays from the beginning: it joins the originals itself and skips every copy, counting them.
    const replay = await runUntilIdle(env, [v2]);
    expect(replay.statsOf(2)!.totalIn([names.orders])).toBe(COUNT);
    expect(replay.statsOf(2)!.redrivenSkipped.get(names.orders)).toBe(missing);
    expect(replay.statsOf(2)!.totalDeadLetters()).toBe(0);
    expect(await readAll(env.log, v2.deadLetterTopic)).toHaveLength(0);
    await expectEqualsIndependent(env, v2, names, COUNT);

    // v1 again, with v2 beside it (shared read): nothing left for either, nothing changes.
    const both = await runUntilIdle(env, [v1, v2]);
    expect(both.statsOf(1)!.totalIn()).toBe(0);
    await expectEqualsIndependent(env, v1, names, COUNT);
    await expectEqualsIndependent(env, v2, names, COUNT);
  }, 300_000);
}
