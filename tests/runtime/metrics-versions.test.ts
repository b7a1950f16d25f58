/**
 * Worker metrics of several hosted versions (src/runtime/metrics.ts): a real `Worker` running two versions of a
 * topology by shared read on the embedded log, scraped over real HTTP. Every per-version series carries a `version`
 * label and both versions are exported; lag is computed per version from its own committed positions; the hosted
 * versions are read again at every scrape (a worker replaces its runner after a lost broker).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { createLogger } from '../../src/runtime/logger.js';
import { versionsLag, WorkerMetrics } from '../../src/runtime/metrics.js';
import { RunStats } from '../../src/runtime/stats.js';
import { Worker } from '../../src/runtime/worker.js';
import { tempBackend } from '../helpers/backend.js';
import { get, until } from '../helpers/proc.js';
import { buildDelays } from '../helpers/versions.js';

const LIMIT = 3_000;
const v1 = buildDelays(1, 15);
const v2 = buildDelays(2, 14);

/** Samples of one metric from the Prometheus text: labels (as written) -> value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}

/** The samples of `name` whose labels include `version="<v>"`. */
function ofVersion(text: string, name: string, v: number): Map<string, number> {
  return new Map([...samples(text, name)].filter(([labels]) => labels.includes(`version="${v}"`)));
}

describe('worker metrics: every hosted version, with a version label', () => {
  const env = tempBackend('eddy-metrics-versions-');
  let worker: Worker | undefined;

  beforeAll(async () => {
    await loadFlightData({ log: env.log, registry: env.registry, limit: LIMIT });
  }, 120_000);
  afterAll(async () => {
    await worker?.stop();
    await worker?.close();
    await env.destroy();
  });

  it('a worker running v1 and v2 exports both versions’ counters, tasks, restores, lag, latency and data health', async () => {
    worker = new Worker({
      topology: v1,
      versions: [v1, v2],
      log: env.log,
      registry: env.registry,
      stateDir: env.stateDir,
      logger: createLogger({ level: 'silent' }),
      http: { host: '127.0.0.1', port: 0 },
      maxBatchRecords: 500,
    });
    await worker.start();
    const port = worker.address!.port;
    const text = await until('both versions read every flight', async () => {
      const r = await get(port, '/metrics');
      const t = r.text;
      const in1 = samples(t, 'eddy_records_in_total').get('{topic="flights",version="1"}');
      const in2 = samples(t, 'eddy_records_in_total').get('{topic="flights",version="2"}');
      const lag = [...samples(t, 'eddy_consumer_lag').values()];
      return in1 === LIMIT && in2 === LIMIT && lag.length > 0 && lag.every((l) => l === 0) ? t : undefined;
    });

    for (const v of [1, 2]) {
      const out = ofVersion(text, 'eddy_records_out_total', v);
      expect(out.get(`{topic="delays-hourly.v${v}",version="${v}"}`)).toBeGreaterThan(0);
      // a version's series name only its own topics
      const other = v === 1 ? 2 : 1;
      expect([...out.keys()].some((l) => l.includes(`.v${other}`))).toBe(false);
      expect(
        ofVersion(text, 'eddy_records_in_total', v).get(`{topic="delays.v${v}.by_route.repartition",version="${v}"}`),
      ).toBe(LIMIT - (ofVersion(text, 'eddy_dead_letters_total', v).get(`{processor="validate",version="${v}"}`) ?? 0));
      expect(ofVersion(text, 'eddy_commits_total', v).get(`{version="${v}"}`)).toBeGreaterThan(0);
      expect(ofVersion(text, 'eddy_aborts_total', v).get(`{version="${v}"}`)).toBe(0);
      expect(ofVersion(text, 'eddy_restore_records_total', v)).toEqual(
        new Map([
          [`{store="by_origin_hour",version="${v}"}`, 0],
          [`{store="route_stats",version="${v}"}`, 0],
        ]),
      );
      expect(ofVersion(text, 'eddy_restore_remaining', v).get(`{store="route_stats",version="${v}"}`)).toBe(0);
      // 2 sub-topologies x 4 partitions per version, all running
      expect(ofVersion(text, 'eddy_tasks', v)).toEqual(
        new Map([
          [`{state="restoring",version="${v}"}`, 0],
          [`{state="running",version="${v}"}`, 8],
        ]),
      );
      const lag = ofVersion(text, 'eddy_consumer_lag', v);
      for (const p of [0, 1, 2, 3]) expect(lag.get(`{topic="flights",partition="${p}",version="${v}"}`)).toBe(0);
      expect(
        ofVersion(text, 'eddy_processing_latency_seconds_count', v).get(`{topic="flights",version="${v}"}`),
      ).toBeGreaterThan(0);
      expect(ofVersion(text, 'eddy_dead_letter_ratio', v).has(`{topic="delays.v${v}.dlq",version="${v}"}`)).toBe(true);
      expect(ofVersion(text, 'eddy_late_ratio', v).has(`{version="${v}"}`)).toBe(true);
      expect(
        ofVersion(text, 'eddy_output_records_per_second', v).has(`{topic="delays-hourly.v${v}",version="${v}"}`),
      ).toBe(true);
    }
    // the worker's shared consumer and readiness: one series, no version
    expect(samples(text, 'eddy_rebalances_total')).toEqual(new Map([['', 1]]));
    expect(samples(text, 'eddy_ready')).toEqual(new Map([['', 1]]));
    await worker.stop();
  }, 180_000);

  it('lag is per version, from the version’s own committed positions', async () => {
    const offsets = await env.log.offsets('flights');
    // v1 at the end of partitions 0 and 1, v2 at the end of partition 0 only (partition 1 uncommitted: its log start)
    await env.log.commitOffsets(
      'lagtest.v1',
      offsets
        .filter((o) => o.partition <= 1)
        .map((o) => ({ topic: 'flights', partition: o.partition, offset: o.high })),
    );
    await env.log.commitOffsets('lagtest.v2', [{ topic: 'flights', partition: 0, offset: offsets[0].high }]);
    const lag = await versionsLag(
      env.log,
      [
        { topic: 'flights', partition: 0 },
        { topic: 'flights', partition: 1 },
        { topic: 'airports', partition: 0 },
      ],
      [
        { version: 1, groupId: 'lagtest.v1', sourceTopics: ['flights'] },
        { version: 2, groupId: 'lagtest.v2', sourceTopics: ['flights'] },
      ],
    );
    const p1 = offsets.find((o) => o.partition === 1)!;
    expect(p1.high - p1.low).toBeGreaterThan(0);
    expect(lag).toEqual([
      { version: 1, topic: 'flights', partition: 0, lag: 0 },
      { version: 1, topic: 'flights', partition: 1, lag: 0 },
      { version: 2, topic: 'flights', partition: 0, lag: 0 },
      { version: 2, topic: 'flights', partition: 1, lag: p1.high - p1.low },
    ]);
  });

  it('the hosted versions are read at every scrape (a new runner after a lost broker is followed)', async () => {
    const s1 = new RunStats();
    s1.in('flights', 10);
    const s2 = new RunStats();
    s2.in('flights', 4);
    let hosted = [{ name: 'app', version: 1, stats: s1, stores: [] }];
    const m = new WorkerMetrics({
      versions: () => hosted,
      rebalances: () => 1,
      readiness: () => ({ ready: true, phase: 'running', tasks: [] }),
      lag: async () => [],
    });
    expect(samples(await m.metrics(), 'eddy_records_in_total')).toEqual(
      new Map([['{topic="flights",version="1"}', 10]]),
    );
    hosted = [
      { name: 'app', version: 1, stats: s1, stores: [] },
      { name: 'app', version: 2, stats: s2, stores: [] },
    ];
    expect(samples(await m.metrics(), 'eddy_records_in_total')).toEqual(
      new Map([
        ['{topic="flights",version="1"}', 10],
        ['{topic="flights",version="2"}', 4],
      ]),
    );
  });
});

describe('re-driven copies skipped', () => {
  it('eddy_redriven_skipped_total counts them per source topic and version', async () => {
    const s = new RunStats();
    s.redriven('orders', 3);
    s.redriven('orders');
    const m = new WorkerMetrics({
      versions: () => [{ name: 'app', version: 2, stats: s, stores: [] }],
      rebalances: () => 0,
      readiness: () => ({ ready: true, phase: 'running', tasks: [] }),
      lag: async () => [],
    });
    expect(samples(await m.metrics(), 'eddy_redriven_skipped_total')).toEqual(
      new Map([['{topic="orders",version="2"}', 4]]),
    );
  });
});
