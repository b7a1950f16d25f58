/**
 * Session and sliding windows end to end: through the TopologyTestDriver (final and update emission, the store read
 * back with session ends), through the runtime on the embedded log at batch sizes 1 and 1000 (the same bytes out as
 * the driver's), and retention (a 10× longer input leaves about as many store rows).
 */
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { readStore } from '../../src/runtime/inspect.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import { storesPlan } from '../../src/sql/plan.js';
import { SqlSession } from '../../src/sql/session.js';
import { TopologyTestDriver } from '../../src/testing/driver.js';
import type { Topology } from '../../src/topology/graph.js';
import { tempBackend } from '../helpers/backend.js';
import { ACTIVITY, type Activity, activityTopology, MINUTE, type SessionRow } from '../topology/session-topology.js';

const T0 = Date.parse('2024-01-01T00:00:00Z');
// [user, minute]: u1's sessions [0, 2] and [9, 9] are bridged by the out-of-order u1@5; u1@20 comes after its
// session would have closed (stream time 40 min > 20 + gap 5 + grace 5)
const EVENTS: [string, number][] = [
  ['u1', 0],
  ['u1', 2],
  ['u2', 3],
  ['u1', 9],
  ['u1', 5],
  ['u2', 12],
  ['u1', 40],
  ['u1', 20],
  ['u2', 100],
];
const input = EVENTS.map(([user, m], i) => ({
  topic: 'activity',
  key: user,
  value: { page: `p${i}` } satisfies Activity,
  timestampMs: T0 + m * MINUTE,
}));
const row = (user: string, start: number, end: number, events: number) => ({
  user,
  start: T0 + start * MINUTE,
  end: T0 + end * MINUTE,
  events,
});
const build = (emit: 'final' | 'update' = 'final') => activityTopology({ graceMs: 5 * MINUTE, emit });

describe('session windows through the TopologyTestDriver', () => {
  it('emit final: each session once, when stream time passes end + gap + grace, stamped with its end', async () => {
    const d = await TopologyTestDriver.create(build());
    try {
      await d.pipeInputs(input);
      const out = d.readOutput<string, SessionRow>('sessions.v1');
      expect(out.map((o) => o.value)).toEqual([
        row('u1', 0, 9, 4),
        row('u2', 3, 3, 1),
        row('u2', 12, 12, 1),
        row('u1', 40, 40, 1),
      ]);
      expect(out.map((o) => o.timestamp)).toEqual([
        T0 + 9 * MINUTE,
        T0 + 3 * MINUTE,
        T0 + 12 * MINUTE,
        T0 + 40 * MINUTE,
      ]);
      // closed by u1@40 (offset 6) and u2@100 (offset 8)
      expect(out.map((o) => o.source?.offset)).toEqual([6, 6, 6, 8]);
      const dead = d.readDeadLetters();
      expect(dead.map((x) => [x.processor, x.reason.split(':')[0]])).toEqual([
        ['user_sessions', 'late record'],
        ['user_sliding', 'late record'],
      ]);
      // the store holds the open session [100, 100] of u2 and what may still be reached; ends come from the value
      const rows = d.windowStore<string, { endMs: number; events: number }>('user_sessions').all();
      for (const r of rows) expect(r.windowEndMs).toBe(r.value.endMs);
    } finally {
      await d.close();
    }
  });

  it('emit update: every change, a merge retracting the merged sessions (null values)', async () => {
    const d = await TopologyTestDriver.create(build('update'));
    try {
      await d.pipeInputs(input);
      const out = d.readOutput<string, SessionRow | null>('sessions.v1').map((o) => [o.key, o.value, o.timestamp - T0]);
      expect(out).toEqual([
        ['u1', row('u1', 0, 0, 1), 0],
        ['u1', null, 0],
        ['u1', row('u1', 0, 2, 2), 2 * MINUTE],
        ['u2', row('u2', 3, 3, 1), 3 * MINUTE],
        ['u1', row('u1', 9, 9, 1), 9 * MINUTE],
        ['u1', null, 2 * MINUTE],
        ['u1', null, 9 * MINUTE],
        ['u1', row('u1', 0, 9, 4), 9 * MINUTE],
        ['u2', row('u2', 12, 12, 1), 12 * MINUTE],
        ['u1', row('u1', 40, 40, 1), 40 * MINUTE],
        ['u2', row('u2', 100, 100, 1), 100 * MINUTE],
      ]);
    } finally {
      await d.close();
    }
  });

  it('sliding windows: counts per 10-minute window ending at and starting after each record', async () => {
    const d = await TopologyTestDriver.create(build());
    try {
      await d.pipeInputs(input);
      const out = d.readOutput<string, SessionRow>('sliding.v1').map((o) => o.value);
      // u1@0, u1@2, u1@9, then u1@5 (stream time 9 min, close time 8 min with grace 1 min): the left window of u1@5,
      // [-5, 5], has closed before it existed, so it is never created; u1@5 joins the windows still open
      const u1 = out.filter((r) => r.user === 'u1').map((r) => [r.start - T0, r.end - T0, r.events]);
      expect(u1).toEqual([
        [-10 * MINUTE, 0, 1],
        [-8 * MINUTE, 2 * MINUTE, 2],
        [-MINUTE, 9 * MINUTE, 4],
        [1, 10 * MINUTE + 1, 3], // the right window of u1@0: (0, 10 min]
        [2 * MINUTE + 1, 12 * MINUTE + 1, 2],
        [5 * MINUTE + 1, 15 * MINUTE + 1, 1],
        [30 * MINUTE, 40 * MINUTE, 1],
      ]);
    } finally {
      await d.close();
    }
  });
});

/**
 * Runs `t` over the input on a fresh embedded log. With `restartAfter`, the input arrives in two parts with a run
 * after each; `wipeState` deletes the state directory between them, so the second run restores the stores (and the
 * stream times) from the log.
 */
async function runOnLog(t: Topology, maxBatchRecords: number, o: { restartAfter?: number; wipeState?: boolean } = {}) {
  const env = tempBackend('eddy-sessions-');
  try {
    await env.log.createTopics([{ name: 'activity', partitions: 1 }]);
    const key = await AvroSerde.create<string>(env.registry, 'activity-key', 'string');
    const value = await AvroSerde.create<Activity>(env.registry, 'activity-value', ACTIVITY);
    const parts =
      o.restartAfter === undefined ? [input] : [input.slice(0, o.restartAfter), input.slice(o.restartAfter)];
    for (const [i, part] of parts.entries()) {
      if (i > 0 && o.wipeState) rmSync(env.stateDir, { recursive: true, force: true });
      const producer = env.log.producer();
      await producer.send(
        part.map((r) => ({
          topic: 'activity',
          partition: 0,
          key: key.serialize(r.key),
          value: value.serialize(r.value),
          timestamp: r.timestampMs,
        })),
      );
      await producer.close();
      await new TopologyRunner(t, {
        log: env.log,
        registry: env.registry,
        stateDir: env.stateDir,
        untilIdle: true,
        maxBatchRecords,
      }).run();
    }
    const outputs: Record<string, { key: string | null; value: string | null; timestamp: number }[]> = {};
    for (const topic of ['sessions.v1', 'sliding.v1']) {
      outputs[topic] = [];
      // a merged session's retraction (emit 'update') is a tombstone: a null value
      for await (const b of env.log.read({ topic, partition: 0 }))
        for (const r of b)
          outputs[topic].push({
            key: r.key?.toString('hex') ?? null,
            value: r.value?.toString('hex') ?? null,
            timestamp: r.timestamp,
          });
    }
    const rows = await readStore({
      stateDir: env.stateDir,
      topology: t,
      store: t.stores.get('user_sessions')!,
      registry: env.registry,
    });
    // eddy sql over the same files: window_end from the value too
    const plan = { tables: await storesPlan(env.registry, env.stateDir, [{ topology: t, main: true }]) };
    const sql = new SqlSession(plan).query(
      'SELECT user, window_start, window_end, endMs, aggregate FROM user_sessions ORDER BY user, window_start',
    ).rows;
    return { outputs, rows, sql };
  } finally {
    await env.destroy();
  }
}

describe('session and sliding windows on the embedded log', () => {
  const results: Awaited<ReturnType<typeof runOnLog>>[] = [];
  afterAll(() => results.splice(0));

  it('the runtime emits what the driver does, byte for byte, at batch sizes 1 and 1000', async () => {
    const one = await runOnLog(build(), 1);
    const many = await runOnLog(build(), 1000);
    expect(many.outputs).toEqual(one.outputs);
    const d = await TopologyTestDriver.create(build());
    try {
      await d.pipeInputs(input);
      for (const topic of ['sessions.v1', 'sliding.v1'])
        expect(
          d
            .records(topic)
            .map((r) => ({ key: r.key!.toString('hex'), value: r.value!.toString('hex'), timestamp: r.timestamp })),
        ).toEqual(one.outputs[topic]);
    } finally {
      await d.close();
    }
    expect(one.outputs['sessions.v1']).toHaveLength(4);
    // eddy inspect: a session's window_end is its end, from the value (u2's open session [100, 100])
    expect(one.rows.map((r) => [r.user, r.window_start, r.window_end])).toContainEqual([
      'u2',
      new Date(T0 + 100 * MINUTE).toISOString(),
      new Date(T0 + 100 * MINUTE).toISOString(),
    ]);
    expect(one.sql).toEqual(
      one.rows.map((r) => ({
        user: r.user,
        window_start: r.window_start,
        window_end: r.window_end,
        endMs: r.endMs,
        aggregate: r.aggregate,
      })),
    );
    for (const r of one.sql) expect(r.window_end).toBe(new Date(r.endMs as number).toISOString());
  });
});

describe('restarts', () => {
  it('a run stopped midway and resumed, with its state restored from the changelogs, emits what one run does', async () => {
    const once = await runOnLog(build(), 1000);
    for (const restartAfter of [4, 6]) {
      const resumed = await runOnLog(build(), 1000, { restartAfter, wipeState: true });
      expect(resumed.outputs).toEqual(once.outputs);
      expect(resumed.rows).toEqual(once.rows);
    }
    const updates = await runOnLog(build('update'), 3);
    expect((await runOnLog(build('update'), 3, { restartAfter: 5, wipeState: true })).outputs).toEqual(updates.outputs);
  });
});

describe('retention', () => {
  /** Ten users, each a session of 3 events every 20 minutes; `n` events in all, in time order. */
  async function storeRows(n: number): Promise<{ sessions: number; sliding: number; emitted: number }> {
    const d = await TopologyTestDriver.create(build());
    try {
      const recs = [];
      for (let i = 0; i < n; i++) {
        const user = `u${i % 10}`;
        const burst = Math.floor(i / 30);
        recs.push({
          topic: 'activity',
          key: user,
          value: { page: 'p' },
          timestampMs: T0 + burst * 20 * MINUTE + (i % 30) * 1000,
        });
      }
      await d.pipeInputs(recs);
      return {
        sessions: d.windowStore('user_sessions').count(),
        sliding: d.windowStore('user_sliding').count(),
        emitted: d.readOutput('sessions.v1').length,
      };
    } finally {
      await d.close();
    }
  }

  it('a 10× longer input leaves the stores with about the same number of rows', async () => {
    const short = await storeRows(600);
    const long = await storeRows(6000);
    expect(long.emitted).toBeGreaterThan(9 * short.emitted);
    expect(long.sessions).toBeLessThanOrEqual(short.sessions + 10);
    expect(long.sliding).toBeLessThanOrEqual(short.sliding + 10);
    console.log(
      `retention: store rows after 600 / 6000 records: sessions ${short.sessions} / ${long.sessions}, sliding ${short.sliding} / ${long.sliding}`,
    );
  });
});
