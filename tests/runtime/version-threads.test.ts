/**
 * Versions in threads (`ThreadedRunner`): each version of a topology runs in its own worker thread, reading the
 * batches the host fetched once. Two versions end with the same outputs, dead letters and stores as two separate
 * single-thread runs, and the input is fetched once (each version's repartition topic by its own thread); a version added later catches up with its own reads in its
 * thread and leaves the live one untouched; a thread whose code builds another version than the host's is refused
 * before any write. Uses flight-delays (built in, so the threads load it by name) and the compiled thread entry
 * (`npm run build`, done by `pretest`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { flightDelaysVersions } from '../../examples/flight-delays/topology.js';
import { loadConfig } from '../../src/config/index.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { ThreadedRunner } from '../../src/runtime/threads/host.js';
import type { Topology } from '../../src/topology/graph.js';
import { tempBackend } from '../helpers/backend.js';
import { type RunSnapshot, snapshot } from '../helpers/snapshot.js';
import { buildDelays } from '../helpers/versions.js';

const LIMIT = 12_000;
const [v1, v2] = flightDelaysVersions();

type Env = ReturnType<typeof tempBackend>;

function options(env: Env) {
  return { log: env.log, registry: env.registry, stateDir: env.stateDir, untilIdle: true, maxBatchRecords: 700 };
}

/**
 * `snapshot`, with each record's schema id (Confluent wire format: byte 0, then a 4-byte id) replaced by the schema
 * it names: threads register their schemas concurrently, so equal schemas may get other ids than in a run alone.
 */
async function normalized(env: Env, t: Topology): Promise<RunSnapshot> {
  const snap = await snapshot(env.log, env.registry, env.stateDir, t);
  const names = new Map<string, string>();
  const named = async (hex: string) => {
    if (!hex.startsWith('00') || hex.length < 10) return hex;
    const id = hex.slice(2, 10);
    if (!names.has(id)) names.set(id, JSON.stringify(await env.registry.getById(Number.parseInt(id, 16))));
    return `schema:${names.get(id)}|${hex.slice(10)}`;
  };
  const topics: RunSnapshot['topics'] = {};
  for (const [topic, parts] of Object.entries(snap.topics)) {
    topics[topic] = [];
    for (const p of parts) {
      const recs: string[] = [];
      for (const r of p) {
        const [key, value, ...rest] = r.split('|');
        recs.push([await named(key), await named(value), ...rest].join('|'));
      }
      topics[topic].push(recs);
    }
  }
  return { stores: snap.stores, topics };
}

function threaded(env: Env, versions: Topology[]): ThreadedRunner {
  const config = loadConfig({ env: { EDDY_DATA_DIR: env.dataDir }, cwd: env.dataDir }).config;
  return new ThreadedRunner(versions, { ...options(env), threads: { config, topology: 'flight-delays' } });
}

describe('versions in threads: one fetch, one thread per version', () => {
  const alone1 = tempBackend('eddy-thr-a1-');
  const alone2 = tempBackend('eddy-thr-a2-');
  const both = tempBackend('eddy-thr-both-');
  const late = tempBackend('eddy-thr-late-');
  const refused = tempBackend('eddy-thr-refused-');
  const pair = tempBackend('eddy-thr-pair-');
  const expected: Record<number, RunSnapshot> = {};

  beforeAll(async () => {
    for (const env of [alone1, alone2, both, late, refused, pair])
      await loadFlightData({ log: env.log, registry: env.registry, limit: LIMIT });
    await new TopologyRunner([v1], options(alone1)).run();
    await new TopologyRunner([v2], options(alone2)).run();
    expected[1] = await normalized(alone1, v1);
    expected[2] = await normalized(alone2, v2);
  }, 300_000);
  afterAll(async () => {
    for (const env of [alone1, alone2, both, late, refused, pair]) await env.destroy();
  });

  it('the two versions differ (the test can tell them apart)', () => {
    expect(expected[1].stores.route_stats.length).toBeGreaterThan(100);
    expect(expected[1].stores.route_stats).not.toEqual(expected[2].stores.route_stats);
  });

  it('two versions in two threads equal two separate runs, and the input is fetched once', async () => {
    const runner = threaded(both, [v1, v2]);
    await runner.run();
    expect(runner.phase).toBe('stopped');
    expect(await normalized(both, v1)).toEqual(expected[1]);
    expect(await normalized(both, v2)).toEqual(expected[2]);
    expect(runner.fetched.sharedInputRecords).toBe(LIMIT);
    expect(runner.fetched.catchUpRecords).toBe(0);
    // each version's repartition topic is read once, by its own thread (direct reads), not through the host
    expect(runner.versions.map((v) => v.directRecords)).toEqual([LIMIT, LIMIT]);
    expect(runner.fetched.records).toBe(3 * LIMIT);
    // the host's counters are the threads' (sent every 250 ms and at the end)
    expect(runner.statsOf(1)!.totalIn(['flights'])).toBe(LIMIT);
    expect(runner.statsOf(2)!.totalIn(['flights'])).toBe(LIMIT);
    expect(runner.statsOf(2)!.commits).toBeGreaterThan(0);
  }, 300_000);

  it('a version added later catches up in its thread; the live version is not disturbed', async () => {
    await new TopologyRunner([v1], options(late)).run();
    const before = await normalized(late, v1);
    const committedBefore = await late.log.committedOffsets(v1.groupId, 'flights');
    const runner = threaded(late, [v1, v2]);
    await runner.run();
    expect(runner.fetched.catchUpRecords).toBe(LIMIT);
    expect(await normalized(late, v1)).toEqual(before);
    expect(await late.log.committedOffsets(v1.groupId, 'flights')).toEqual(committedBefore);
    expect(await normalized(late, v2)).toEqual(expected[2]);
  }, 300_000);

  it('two hosts on one log split the partitions; each thread reads its repartition partitions itself', async () => {
    // Two members of the reader group (as two worker processes): the repartition partitions move between them with
    // their co-partitioned slots (the host keeps them in its assignment; its threads read them directly).
    const runners = [threaded(pair, [v1, v2]), threaded(pair, [v1, v2])];
    await Promise.all(runners.map((r) => r.run()));
    expect(await normalized(pair, v1)).toEqual(expected[1]);
    expect(await normalized(pair, v2)).toEqual(expected[2]);
    for (const r of runners) expect(r.versions.every((v) => v.directRecords > 0)).toBe(true);
    const direct = runners.flatMap((r) => r.versions.map((v) => v.directRecords));
    expect(direct.reduce((a, n) => a + n, 0)).toBeGreaterThanOrEqual(2 * LIMIT);
  }, 300_000);

  it('a stop before the run ends every thread, and the run then ends at once', async () => {
    const runner = threaded(both, [v1, v2]);
    await runner.setup();
    await runner.stop();
    await runner.run();
    expect(runner.phase).toBe('stopped');
  }, 60_000);

  it('a version whose code in the thread differs from the host is refused before any write', async () => {
    const other = buildDelays(1, 15, 'flight-delays'); // named flight-delays v1, another graph than the built-in v1
    const topicsBefore = (await refused.log.listTopics()).map((t) => t.name).sort();
    const runner = threaded(refused, [other]);
    await expect(runner.run()).rejects.toMatchObject({ code: 'THREAD_CODE_DIFFERS' });
    expect(runner.phase).toBe('failed');
    expect((await refused.log.listTopics()).map((t) => t.name).sort()).toEqual(topicsBefore);
  }, 60_000);
});
