/**
 * Several versions in one worker on a real Kafka broker, through faults: `eddy worker` runs flight-delays v1 live
 * (catching up on new flights) and v2 replaying from the start, both through one read of the input; it is SIGKILLed
 * three times mid-stream and restarted. Both versions end identical to uninterrupted runs of each version alone on
 * the same input in another namespace: outputs and dead letters decoded in offset order per partition (read
 * read_committed, with the source partition/offset each traces to), stores, and committed positions.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flightDelaysVersions } from '../../examples/flight-delays/topology.js';
import { checkVersion, getVersion } from '../../src/replay/registry.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import type { Topology } from '../../src/topology/graph.js';
import type { Proc } from '../helpers/proc.js';
import { committedSum, type Decoded, decodedSnapshot, eventually } from './helpers.js';
import { appendInvalidFlights, type VersionsNamespace, versionsNamespace } from './versions-helpers.js';

/** Flights v1 has processed when v2 starts, and flights (Flight schema 2) that arrive after. */
const FIRST = 12_000;
const MORE = 12_000;
/** The flights, plus one invalid flight per partition (4) after the first ones: dead letters in both versions. */
const N = FIRST + 4 + MORE;
const BATCH = 500;

const MODULE = (ns: string, dist: string) =>
  `import { flightDelaysVersions } from ${JSON.stringify(join(dist, 'examples', 'flight-delays', 'topology.js'))};\n` +
  `export default flightDelaysVersions({ namespace: ${JSON.stringify(ns)} });\n`;

function namespace(): { n: VersionsNamespace; v1: Topology; v2: Topology } {
  const n = versionsNamespace('vcr', 'flight-delays', MODULE, { maxBatchRecords: BATCH });
  const [v1, v2] = flightDelaysVersions({ namespace: n.ns });
  return { n, v1, v2 };
}

async function runAlone(n: VersionsNamespace, t: Topology): Promise<void> {
  await new TopologyRunner(t, {
    log: n.log,
    registry: n.registry,
    stateDir: join(n.dataDir, 'state'),
    untilIdle: true,
    maxBatchRecords: BATCH,
  }).run();
}

describe('SIGKILL a worker running v1 live and v2 replaying on Kafka, 3 times: both end as uninterrupted runs', () => {
  const made: VersionsNamespace[] = [];
  const expected: Record<number, Decoded> = {};

  beforeAll(async () => {
    const { n, v1, v2 } = namespace();
    made.push(n);
    await n.load({ limit: FIRST });
    expect(await appendInvalidFlights(n)).toBe(4);
    await n.load({ skip: FIRST, limit: MORE, flightSchemaVersion: 2 });
    for (const t of [v1, v2]) {
      await runAlone(n, t);
      expected[t.version] = await decodedSnapshot(n.log, n.registry, join(n.dataDir, 'state'), t);
    }
    // The two versions differ, and the comparison has records of every kind to compare.
    expect(expected[1].outputs.flat().length).toBeGreaterThan(500);
    expect(expected[1].deadLetters.flat().length).toBe(4);
    expect(expected[2].deadLetters.flat().length).toBe(4);
    expect(expected[1].stores.route_stats.length).toBeGreaterThan(500);
    expect(expected[2].stores.route_stats).not.toEqual(expected[1].stores.route_stats);
  }, 600_000);

  afterAll(async () => {
    for (const n of made) await n.cleanup();
  });

  it('v1 live on the first flights; v1 and v2 in one worker killed 3 times mid-stream; both equal the references', async () => {
    const { n, v1, v2 } = namespace();
    made.push(n);
    await n.load({ limit: FIRST });
    expect(await appendInvalidFlights(n)).toBe(4);
    await runAlone(n, v1);
    expect((await getVersion(n.log, n.name, 1)).state).toBe('live');
    // New flights arrive (the producer's new schema), and v2 starts replaying beside the live v1.
    await n.load({ skip: FIRST, limit: MORE, flightSchemaVersion: 2 });
    await checkVersion(n.log, v2, { knownVersions: [1, 2] });
    expect((await getVersion(n.log, n.name, 2)).state).toBe('replaying');

    const positions = async () => ({
      v1: await committedSum(n.log, v1.groupId, n.topics.flights),
      v2: await committedSum(n.log, v2.groupId, n.topics.flights),
    });
    const worker = (): Proc => n.spawn(['worker', n.name]);
    const kills: { v1: number; v2: number }[] = [];
    // The first kill while v1 is still catching up on the new flights, the others further into v2's replay.
    const points: ((p: { v1: number; v2: number }) => boolean)[] = [
      (p) => p.v1 >= N - (3 * MORE) / 4 || p.v2 >= N / 4,
      (p) => p.v2 >= N / 2,
      (p) => p.v2 >= (3 * N) / 4,
    ];
    for (const point of points) {
      const w = worker();
      let seen = { v1: 0, v2: 0 };
      await eventually(
        'the kill point',
        async () => {
          if (w.child.exitCode !== null) throw new Error(`worker exited: ${w.stderr()}`);
          seen = await positions();
          return point(seen);
        },
        180_000,
        100,
      );
      w.child.kill('SIGKILL');
      expect((await w.exit).signal).toBe('SIGKILL');
      kills.push(seen);
    }
    // Killed mid-stream: v1 before the end of its new flights once, v2 before the end every time.
    expect(kills[0].v1).toBeLessThan(N);
    expect(kills[2].v2).toBeLessThan(N);
    expect(kills[0].v2).toBeGreaterThan(0);

    // The last worker runs until both versions equal their references (the route statistics trail the input
    // through the repartition topic), then stops gracefully; they must still be equal after.
    const last = worker();
    const snap = (t: Topology) => decodedSnapshot(n.log, n.registry, join(n.dataDir, 'state'), t);
    await eventually(
      'both versions to equal their references',
      async () => {
        if (last.child.exitCode !== null) throw new Error(`worker exited: ${last.stderr()}`);
        for (const t of [v1, v2])
          if (JSON.stringify(await snap(t)) !== JSON.stringify(expected[t.version])) return false;
        return true;
      },
      240_000,
      1_000,
    ).catch(() => undefined); // the comparison below shows the difference
    last.child.kill('SIGTERM');
    const exit = await last.exit;
    expect(exit.code, last.stderr()).toBe(0);

    for (const t of [v1, v2]) {
      const got = await snap(t);
      expect(got.outputs, `v${t.version} outputs`).toEqual(expected[t.version].outputs);
      expect(got.deadLetters, `v${t.version} dead letters`).toEqual(expected[t.version].deadLetters);
      expect(got.stores, `v${t.version} stores`).toEqual(expected[t.version].stores);
    }
    expect(await positions()).toEqual({ v1: N, v2: N });
    expect((await getVersion(n.log, n.name, 1)).state).toBe('live');
  }, 600_000);
});
