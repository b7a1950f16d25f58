/**
 * The versions commands as a user runs them on a real Kafka broker, through the built CLI: `eddy replay` of v2 beside
 * a live v1 (its worker running), `eddy versions --format json`, `eddy promote` refused while v2 lags (naming the lag)
 * and accepted once caught up, `eddy inspect` following the live version, `eddy diff` of a store and an output
 * against an independent computation from the input flights, and `eddy retire` (refused for the live version, a plan
 * without --yes, and with it every listed topic, the consumer group and the state directory gone, as the Kafka admin
 * sees them). The topology is built in the test module: v2 counts a flight as delayed above 30 min instead of 15.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Flight } from '../../examples/flight-delays/types.js';
import { PositionsBackwardError } from '../../src/replay/errors.js';
import { getVersion, recordPositions } from '../../src/replay/registry.js';
import { committedSum, eventually } from './helpers.js';
import { brokerView, type VersionsNamespace, validFlights, versionsNamespace } from './versions-helpers.js';

const LIMIT = 8_000;
const PARTITIONS = 2;

/** v1: delayed above 15 min; v2: above 30. A window store per origin and hour; route statistics to an output. */
const MODULE = (ns: string, dist: string) => `
import { loadSchemas, topology, tumbling } from ${JSON.stringify(join(dist, 'src', 'index.js'))};
const s = loadSchemas(${JSON.stringify(join(dist, '..', 'schemas'))});
function build(version, delayedMin) {
  const t = topology({ name: '${ns}-delays', version });
  const add = (agg, f) => {
    agg.max_delay = agg.flights === 0 ? f.delay : Math.max(agg.max_delay, f.delay);
    agg.flights += 1;
    if (f.delay > delayedMin) agg.delayed += 1;
    agg.total_delay += f.delay;
    agg.avg_delay = agg.total_delay / agg.flights;
    return agg;
  };
  const empty = () => ({ flights: 0, delayed: 0, total_delay: 0, max_delay: 0, avg_delay: 0 });
  const routes = t.output('${ns}-routes', { key: 'string', value: s.get('DelayStats') });
  const valid = t.source('${ns}-flights', { key: 'string', value: s.get('Flight') })
    .validate('validate', (f) => (f.delay < -120 || f.delay > 1800 ? 'delay out of range' : undefined));
  valid.groupByKey({ key: 'string' }).windowedBy(tumbling({ sizeMs: 3600000 }))
    .aggregate('by_airport_hour', { value: s.get('DelayStats'), keyName: 'airport', initializer: empty, aggregator: add });
  valid.groupBy('route_stats', (r) => r.value.origin + '-' + r.value.destination, { key: 'string', value: s.get('Flight') })
    .aggregate('route_stats', { value: s.get('DelayStats'), keyName: 'route', initializer: empty, aggregator: add })
    .toStream('route-updates').to(routes, 'to-routes');
  return t.build();
}
export default [() => build(1, 15), () => build(2, 30)];
`;

interface VersionRow {
  version: number;
  state?: string;
  live: boolean;
  recordsIn: number;
  lag: { topic: string; partition: number; lagRecords: number }[];
}

interface DiffJson {
  kind: string;
  keysA: number;
  keysB: number;
  onlyA: number;
  onlyB: number;
  equal: number;
  different: number;
  sample: { key: string; windowStart?: string }[];
}

describe('eddy replay, versions, promote, inspect, diff, retire on Kafka (CLI)', () => {
  let n: VersionsNamespace;
  let flights: Flight[];
  const g1 = () => `${n.name}.v1`;
  const g2 = () => `${n.name}.v2`;
  const versions = async (): Promise<VersionRow[]> => {
    const r = await n.cli(['versions', n.name, '--format', 'json']);
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as VersionRow[];
  };
  /** Routes (and origin-hours) whose delayed count differs: those with a flight delayed more than 15, at most 30 min. */
  const differing = (key: (f: Flight) => string): { keys: number; differing: string[] } => {
    const m = new Map<string, boolean>();
    for (const f of flights) m.set(key(f), (m.get(key(f)) ?? false) || (f.delay > 15 && f.delay <= 30));
    return {
      keys: m.size,
      differing: [...m]
        .filter(([, d]) => d)
        .map(([k]) => k)
        .sort(),
    };
  };
  const route = (f: Flight) => `${f.origin}-${f.destination}`;

  beforeAll(async () => {
    n = versionsNamespace('vcli', 'delays', MODULE, { maxBatchRecords: 200, partitions: PARTITIONS });
    await n.load({ limit: LIMIT });
    flights = await validFlights(n);
    const r = await n.cli(['replay', n.name, '--version', '1', '--no-progress']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${g1()}: caught up`);
  }, 300_000);

  afterAll(async () => {
    await n?.cleanup();
  });

  it('replays v2 beside the live v1; promote is refused while v2 lags, naming the lag, then accepted', async () => {
    // v1 served by a worker; it is stopped for the replay (a replay beside a running worker: the last case below).
    const worker = n.spawn(['worker', n.name]);
    await worker.waitFor((l) => l.event === 'ready', 120_000);
    worker.child.kill('SIGTERM');
    expect((await worker.exit).code, worker.stderr()).toBe(0);
    const before = await versions();
    expect(before.map((v) => [v.version, v.state ?? null, v.live])).toEqual([
      [1, 'live', true],
      [2, null, false],
    ]);

    // A replay stopped early (SIGINT: the batch in flight commits) leaves v2 replaying and behind.
    const replay = n.spawn(['replay', n.name, '--version', '2', '--no-progress']);
    await eventually('v2 to commit', async () => (await committedSum(n.log, g2(), n.topics.flights)) > 0, 120_000, 50);
    replay.child.kill('SIGINT');
    expect((await replay.exit).code, replay.stderr()).toBe(0);
    expect(replay.lines.some((l) => /stopped \d+ record\(s\) behind/.test(String(l.msg)))).toBe(true);

    const mid = await versions();
    expect(mid.map((v) => [v.version, v.state, v.live])).toEqual([
      [1, 'live', true],
      [2, 'replaying', false],
    ]);
    const committed2 = await committedSum(n.log, g2(), n.topics.flights);
    expect(mid[1].recordsIn).toBe(committed2);
    expect(mid[1].lag.reduce((a, l) => a + l.lagRecords, 0)).toBe(LIMIT - committed2);
    expect(mid[0].lag.map((l) => l.lagRecords)).toEqual([0, 0]);

    const refused = await n.cli(['promote', n.name, '2']);
    expect(refused.code).toBe(1);
    const lagText = mid[1].lag
      .filter((l) => l.lagRecords > 1000)
      .map((l) => `${l.topic}:${l.partition} ${l.lagRecords}`)
      .join(', ');
    expect(lagText).not.toBe('');
    expect(refused.stderr).toContain(`${n.name} version 2 has not caught up: lag ${lagText} record(s), more than 1000`);
    expect((await getVersion(n.log, n.name, 2)).state).toBe('replaying');

    // The replay resumes from its committed positions to the end; v1's worker runs on beside it.
    const rest = await n.cli(['replay', n.name, '--version', '2', '--no-progress']);
    expect(rest.code, rest.stderr).toBe(0);
    expect(rest.stdout).toContain(`${g2()}: resuming from its committed positions`);
    expect(rest.stdout).toContain(`${g2()}: caught up`);
    const after = await versions();
    expect(after.map((v) => [v.version, v.state, v.live])).toEqual([
      [1, 'live', true],
      [2, 'caught-up', false],
    ]);
    expect(after[1].lag.map((l) => l.lagRecords)).toEqual([0, 0]);
    expect(after[1].recordsIn).toBe(LIMIT);

    // inspect follows the live version: v1's delayed count (> 15 min) before the promotion, v2's (> 30) after.
    const k = differing(route).differing[0];
    const ofRoute = flights.filter((f) => route(f) === k);
    const inspect = async () => {
      const r = await n.cli(['inspect', 'route_stats', '--topology', n.name, '--key', k, '--format', 'jsonl']);
      expect(r.stderr).toBe('');
      return JSON.parse(r.stdout.trim()) as { route: string; flights: number; delayed: number };
    };
    expect(await inspect()).toMatchObject({
      route: k,
      flights: ofRoute.length,
      delayed: ofRoute.filter((f) => f.delay > 15).length,
    });
    const ok = await n.cli(['promote', n.name, '2']);
    // no worker runs v2 (the one above was stopped): promote says that nothing processes its new input
    expect(ok.stderr).toContain(`eddy: no worker runs ${n.name} version 2 now`);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`${n.name} version 2 is live (was version 1).`);
    expect(await inspect()).toMatchObject({
      route: k,
      flights: ofRoute.length,
      delayed: ofRoute.filter((f) => f.delay > 30).length,
    });
    // exactly one live version: v1 is superseded
    expect((await versions()).map((v) => [v.version, v.state, v.live])).toEqual([
      [1, 'superseded', false],
      [2, 'live', true],
    ]);
  }, 300_000);

  it('diffs a store and an output of v1 and v2: exactly the keys the input flights say differ', async () => {
    const routes = differing(route);
    expect(routes.differing.length).toBeGreaterThan(10);
    const diff = async (what: string): Promise<DiffJson> => {
      const r = await n.cli(['diff', n.name, what, '1', '2', '--format', 'json', '--sample', '1000000']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout) as DiffJson;
    };
    for (const [what, kind] of [
      ['route_stats', 'store'],
      [`${n.ns}-routes`, 'output'],
    ]) {
      const r = await diff(what);
      expect(r, what).toMatchObject({
        kind,
        keysA: routes.keys,
        keysB: routes.keys,
        onlyA: 0,
        onlyB: 0,
        different: routes.differing.length,
        equal: routes.keys - routes.differing.length,
      });
      expect(r.sample.map((s) => s.key).sort(), what).toEqual(routes.differing);
    }
    const hours = differing((f) => {
      const t = Number(f.date);
      return `${f.origin}|${new Date(t - (t % 3_600_000)).toISOString()}`;
    });
    const w = await diff('by_airport_hour');
    expect(w).toMatchObject({
      kind: 'store',
      keysA: hours.keys,
      onlyA: 0,
      onlyB: 0,
      different: hours.differing.length,
    });
    expect(w.sample.map((s) => `${s.key}|${s.windowStart}`).sort()).toEqual(hours.differing);
  }, 300_000);

  it('refuses positions that move backwards', async () => {
    const rec = await getVersion(n.log, n.name, 2);
    const key = `${n.topics.flights}:0`;
    expect(rec.positions[key]).toBeGreaterThan(1);
    const err = await recordPositions(n.log, n.name, 2, { [key]: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PositionsBackwardError);
    expect((await getVersion(n.log, n.name, 2)).positions).toEqual(rec.positions);
  });

  it('retire: refuses the live version, prints the plan without --yes, deletes every listed thing with it', async () => {
    const live = await n.cli(['retire', n.name, '2', '--yes']);
    expect(live.code).toBe(1);
    expect(live.stderr).toContain('Promote another version first');

    const plan = await n.cli(['retire', n.name, '1']);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('would delete (run again with --yes to delete)');
    const listed = [...plan.stdout.matchAll(/^ {4}(\S+) {2}\d+ offset\(s\) \(records and transaction markers\)$/gm)]
      .map((m) => m[1])
      .sort();
    expect(listed).toEqual(
      [
        `${n.ns}-routes.v1`,
        `${g1()}.by_airport_hour.changelog`,
        `${g1()}.dlq`,
        `${g1()}.route_stats.changelog`,
        `${g1()}.route_stats.repartition`,
      ].sort(),
    );
    expect(plan.stdout).toContain(`consumer group: ${g1()}`);
    const stateDir = join(n.dataDir, 'state', g1());
    expect(plan.stdout).toContain(`state directory: ${stateDir}`);
    const seen = await brokerView();
    for (const t of listed) expect(seen.topics).toContain(t);
    expect(seen.groups).toContain(g1());
    expect(existsSync(stateDir)).toBe(true);

    const yes = await n.cli(['retire', n.name, '1', '--yes']);
    // no worker runs the live v2: retire says so
    expect(yes.stderr).toContain(`eddy: no worker runs ${n.name} version 2 now`);
    expect(yes.code).toBe(0);
    expect(yes.stdout).toContain(`${n.name} version 1 is retired.`);
    // Kafka deletes topics asynchronously: the admin's listing drops them within moments.
    await eventually(
      'the listed topics to be gone',
      async () => {
        const { topics } = await brokerView();
        return listed.every((t) => !topics.includes(t));
      },
      60_000,
    );
    const gone = await brokerView();
    expect(gone.groups).not.toContain(g1());
    expect(gone.groups).toContain(g2());
    for (const t of [`${n.ns}-routes.v2`, `${g2()}.route_stats.changelog`]) expect(gone.topics).toContain(t);
    expect(existsSync(stateDir)).toBe(false);
    expect(existsSync(join(n.dataDir, 'state', g2()))).toBe(true);
    expect((await versions()).map((v) => [v.version, v.state, v.live])).toEqual([
      [1, 'retired', false],
      [2, 'live', true],
    ]);
  }, 300_000);
});

/**
 * Regression: `eddy replay` once joined the reader group `<topology>` that a running worker of the live version uses,
 * so the group split the input partitions between the two processes and the replay stopped behind the inputs' end.
 * It now reads through a reader group of its own (`<topology>.replay.v<N>`).
 */
describe('eddy replay while a worker of the live version runs (Kafka, CLI)', () => {
  let n: VersionsNamespace;
  beforeAll(async () => {
    n = versionsNamespace('vcli2', 'delays', MODULE, { maxBatchRecords: 200, partitions: PARTITIONS });
    await n.load({ limit: 2_000 });
    expect((await n.cli(['replay', n.name, '--version', '1', '--no-progress'])).code).toBe(0);
  }, 300_000);
  afterAll(async () => {
    await n?.cleanup();
  });

  it('replays v2 to the end of every input partition', async () => {
    const worker = n.spawn(['worker', n.name]);
    await worker.waitFor((l) => l.event === 'ready', 120_000);
    const r = await n.cli(['replay', n.name, '--version', '2', '--no-progress']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${n.name}.v2: caught up`);
    expect(await committedSum(n.log, `${n.name}.v2`, n.topics.flights)).toBe(2_000);
  }, 300_000);
});
