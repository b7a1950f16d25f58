/**
 * `eddy worker` as a real process on the embedded log, over real HTTP: liveness, readiness, metrics that match the
 * data, graceful shutdown on SIGTERM (batch in flight commits, offsets at the end), restore of only the changelog
 * tail on restart, the shutdown bound, the second signal, and bad configuration.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { buildFlightDelays } from '../../examples/flight-delays/topology.js';
import { startHttpServer } from '../../src/runtime/http.js';
import { WorkerMetrics } from '../../src/runtime/metrics.js';
import { type Readiness, TopologyRunner } from '../../src/runtime/runner.js';
import { RunStats } from '../../src/runtime/stats.js';
import { openBackendAt, tempBackend } from '../helpers/backend.js';
import { eddy, get, type Proc, ROOT, until } from '../helpers/proc.js';

const LIMIT = 4_000;
const SHUTDOWN_BOUND_MS = 15_000;

/** Samples of one metric from the Prometheus text: labels (as written) -> value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}

function metricValue(text: string, name: string, labels = ''): number | undefined {
  return samples(text, name).get(labels);
}

async function metrics(port: number): Promise<string> {
  const r = await get(port, '/metrics');
  expect(r.status).toBe(200);
  return r.text;
}

async function startWorker(args: string[], env: Record<string, string> = {}): Promise<{ p: Proc; port: number }> {
  const p = eddy(args, { EDDY_HTTP_PORT: '0', ...env });
  const start = await p.waitFor((l) => l.event === 'start');
  expect(typeof start.port).toBe('number');
  return { p, port: start.port as number };
}

async function sigterm(p: Proc): Promise<{ code: number | null; elapsedMs: number }> {
  const t0 = Date.now();
  p.child.kill('SIGTERM');
  const e = await p.exit;
  return { code: e.code, elapsedMs: e.atMs - t0 };
}

describe('eddy worker flight-delays (embedded log, real process, real HTTP)', () => {
  const topology = buildFlightDelays();
  const dataDir = mkdtempSync(join(tmpdir(), 'eddy-worker-'));
  const args = ['--data-dir', dataDir, 'worker', 'flight-delays', '--shutdown-timeout-ms', String(SHUTDOWN_BOUND_MS)];
  const sources = topology.subtopologies.flatMap((s) => s.sourceTopics);
  const running: Proc[] = [];

  beforeAll(async () => {
    const env = openBackendAt(dataDir);
    try {
      const loaded = await loadFlightData({ log: env.log, registry: env.registry, limit: LIMIT });
      expect(loaded.flights).toBe(LIMIT);
    } finally {
      await env.close();
    }
  }, 120_000);
  afterAll(() => {
    for (const p of running) p.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves /health, becomes ready, counts every record, and shuts down cleanly on SIGTERM', async () => {
    const { p, port } = await startWorker(args);
    running.push(p);
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(9464);

    const health = await get(port, '/health');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text).status).toBe('ok');

    const ready = await until('/ready 200', async () => {
      const r = await get(port, '/ready');
      return r.status === 200 ? r : undefined;
    });
    const body = JSON.parse(ready.text) as { ready: boolean; phase: string; tasks: string[] };
    expect(body.ready).toBe(true);
    expect(body.phase).toBe('running');
    expect(body.tasks).toEqual(
      ['0_0', '0_1', '0_2', '0_3', '1_0', '1_1', '1_2', '1_3'].map((t) => `flight-delays.v1/${t}`),
    );

    // Caught up: every flight counted exactly once, and no lag left on any assigned partition.
    const text = await until('all flights processed', async () => {
      const t = await metrics(port);
      const lag = [...samples(t, 'eddy_consumer_lag').values()];
      return metricValue(t, 'eddy_records_in_total', '{topic="flights",version="1"}') === LIMIT &&
        lag.length === 8 &&
        lag.every((x) => x === 0)
        ? t
        : undefined;
    });
    expect(
      metricValue(text, 'eddy_records_in_total', '{topic="flight-delays.v1.route_stats.repartition",version="1"}'),
    ).toBeGreaterThan(0);
    expect(metricValue(text, 'eddy_commits_total', '{version="1"}')).toBeGreaterThan(0);
    expect(metricValue(text, 'eddy_aborts_total', '{version="1"}')).toBe(0);
    expect(metricValue(text, 'eddy_rebalances_total')).toBe(1);
    expect(metricValue(text, 'eddy_ready')).toBe(1);
    expect(metricValue(text, 'eddy_restore_remaining', '{store="route_stats",version="1"}')).toBe(0);
    expect(samples(text, 'eddy_consumer_lag').has('{topic="flights",partition="3",version="1"}')).toBe(true);
    expect(metricValue(text, 'eddy_processing_latency_seconds_count', '{topic="flights",version="1"}')).toBeGreaterThan(
      0,
    );
    expect(
      metricValue(text, 'eddy_records_out_total', '{topic="airport-delays-hourly.v1",version="1"}'),
    ).toBeGreaterThan(0);
    expect(text).toMatch(/^# TYPE eddy_processing_latency_seconds histogram$/m);
    expect(text).toMatch(/^# TYPE eddy_records_in_total counter$/m);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m); // prom-client's default metrics
    expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
    // Idle: a later scrape counts nothing twice.
    await new Promise((r) => setTimeout(r, 300));
    expect(metricValue(await metrics(port), 'eddy_records_in_total', '{topic="flights",version="1"}')).toBe(LIMIT);

    // Store view: one key of the key-value store, then a bounded dump.
    const some = JSON.parse((await get(port, '/stores/route_stats?limit=3')).text) as {
      count: number;
      truncated: boolean;
      rows: { route: string }[];
    };
    expect(some.count).toBe(3);
    expect(some.truncated).toBe(true);
    const one = await get(port, `/stores/route_stats?key=${encodeURIComponent(some.rows[0].route)}`);
    expect(one.status).toBe(200);
    expect(JSON.parse(one.text).rows).toEqual([some.rows[0]]);
    expect((await get(port, '/stores/nope')).status).toBe(404);

    const stop = await sigterm(p);
    expect(stop.code, p.stderr()).toBe(0);
    expect(stop.elapsedMs).toBeLessThan(SHUTDOWN_BOUND_MS);
    const events = p.lines.map((l) => l.event);
    expect(events).toContain('assigned');
    expect(events).toContain('ready');
    expect(events.indexOf('shutdown')).toBeLessThan(events.lastIndexOf('stopped'));
    expect(p.lines.find((l) => l.event === 'stopped')?.exitCode).toBe(0);
    expect(p.lines.every((l) => !l.unparsed && typeof l.time === 'string' && typeof l.level === 'string')).toBe(true);

    // Committed offsets are at the end of every input partition.
    const env = openBackendAt(dataDir);
    try {
      for (const topic of sources) {
        const committed = await env.log.committedOffsets(topology.groupId, topic);
        const ends = await env.log.offsets(topic);
        expect(ends.length).toBe(4);
        for (const o of ends) expect(committed.get(o.partition)?.offset ?? 0, `${topic}:${o.partition}`).toBe(o.high);
      }
    } finally {
      await env.close();
    }
  });

  /** Records in each store's changelog (all partitions). */
  async function changelogRecords(): Promise<Record<string, number>> {
    const env = openBackendAt(dataDir);
    try {
      const out: Record<string, number> = {};
      for (const info of topology.stores.values()) {
        let n = 0;
        for (const o of await env.log.offsets(info.changelog))
          for await (const batch of env.log.read({ topic: info.changelog, partition: o.partition })) n += batch.length;
        out[info.name] = n;
      }
      return out;
    } finally {
      await env.close();
    }
  }

  async function restoredAfterRestart(): Promise<{ restored: Record<string, number>; p: Proc; text: string }> {
    const { p, port } = await startWorker(args);
    running.push(p);
    await until('/ready 200', async () => ((await get(port, '/ready')).status === 200 ? true : undefined));
    const text = await metrics(port);
    const restored: Record<string, number> = {};
    for (const store of topology.stores.keys())
      restored[store] = metricValue(text, 'eddy_restore_records_total', `{store="${store}",version="1"}`)!;
    const stop = await sigterm(p);
    expect(stop.code, p.stderr()).toBe(0);
    return { restored, p, text };
  }

  it('a restart after a clean shutdown restores nothing: the stores were checkpointed', async () => {
    const inChangelogs = await changelogRecords();
    expect(inChangelogs.delays_by_airport_hour).toBeGreaterThan(0);
    expect(inChangelogs.route_stats).toBeGreaterThan(0);
    const { restored, text } = await restoredAfterRestart();
    expect(restored).toEqual({ delays_by_airport_hour: 0, route_stats: 0 });
    // Nothing was processed again either.
    expect(metricValue(text, 'eddy_records_in_total', '{topic="flights",version="1"}') ?? 0).toBe(0);
  });

  it('a restart without local state restores exactly the changelogs, and logs the progress', async () => {
    rmSync(join(dataDir, 'state'), { recursive: true, force: true });
    const inChangelogs = await changelogRecords();
    const { restored, p } = await restoredAfterRestart();
    expect(restored).toEqual(inChangelogs);
    const progress = p.lines.filter((l) => l.event === 'restore');
    expect(progress.length).toBeGreaterThan(0);
    for (const l of progress)
      expect(l).toMatchObject({
        task: expect.any(String),
        store: expect.any(String),
        restored: expect.any(Number),
        total: expect.any(Number),
      });
    // restores run off the rebalance path: each task logs what it restored once it starts processing
    const restoredLines = p.lines.filter((l) => l.event === 'restored') as { restored: Record<string, number> }[];
    const sum: Record<string, number> = {};
    for (const l of restoredLines) for (const [s, n] of Object.entries(l.restored)) sum[s] = (sum[s] ?? 0) + n;
    expect(restoredLines).toHaveLength(8);
    expect(sum).toEqual(inChangelogs);
  });

  it('bad configuration: exit 2 with one line naming the key and the fix, no data directory created', async () => {
    const fresh = join(dataDir, 'never');
    const p = eddy(['--data-dir', fresh, 'worker', 'flight-delays'], { EDDY_HTTP_PORT: 'abc' });
    const e = await p.exit;
    expect(e.code).toBe(2);
    expect(p.stderr()).toBe('eddy: http.port: expected an integer from 0 to 65535, got "abc" (from EDDY_HTTP_PORT)\n');
    expect(p.lines).toEqual([]);
    expect(existsSync(fresh)).toBe(false);
  });
});

describe('two workers in one consumer group: rebalances', () => {
  const topology = buildFlightDelays();
  const dataDir = mkdtempSync(join(tmpdir(), 'eddy-worker-group-'));
  const args = ['--data-dir', dataDir, 'worker', 'flight-delays'];
  const running: Proc[] = [];

  beforeAll(async () => {
    const env = openBackendAt(dataDir);
    try {
      await loadFlightData({ log: env.log, registry: env.registry, limit: 2_000 });
    } finally {
      await env.close();
    }
  }, 120_000);
  afterAll(() => {
    for (const p of running) p.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  const readyTasks = (port: number) =>
    until('/ready 200', async () => {
      const r = await get(port, '/ready');
      return r.status === 200 ? (JSON.parse(r.text).tasks as string[]) : undefined;
    });
  const flightsIn = async (port: number) =>
    metricValue(await metrics(port), 'eddy_records_in_total', '{topic="flights",version="1"}') ?? 0;

  it('a second worker takes half the tasks, both count each record once, and the first takes them back', async () => {
    const a = await startWorker(args);
    running.push(a.p);
    expect(await readyTasks(a.port)).toHaveLength(8);
    await until('A caught up', async () => ((await flightsIn(a.port)) === 2_000 ? true : undefined));

    const b = await startWorker(args);
    running.push(b.p);
    await a.p.waitFor((l) => l.event === 'revoked' && l.shutdown === false);
    const tasksB = await readyTasks(b.port);
    const tasksA = await until('A ready with 4 tasks', async () => {
      const t = await readyTasks(a.port);
      return t.length === 4 ? t : undefined;
    });
    expect(tasksB).toHaveLength(4);
    expect([...tasksA, ...tasksB].sort()).toEqual(
      ['0_0', '0_1', '0_2', '0_3', '1_0', '1_1', '1_2', '1_3'].map((t) => `flight-delays.v1/${t}`),
    );
    expect(metricValue(await metrics(a.port), 'eddy_rebalances_total')).toBe(2);
    expect(metricValue(await metrics(b.port), 'eddy_rebalances_total')).toBe(1);

    // New records while both run: each is processed once, by the member that owns its partition.
    const env = openBackendAt(dataDir);
    try {
      await loadFlightData({ log: env.log, registry: env.registry, limit: 1_000 });
    } finally {
      await env.close();
    }
    await until('3,000 flights over both workers', async () => {
      const n = (await flightsIn(a.port)) + (await flightsIn(b.port));
      return n === 3_000 ? true : undefined;
    });
    expect(await flightsIn(b.port)).toBeGreaterThan(0);

    expect((await sigterm(b.p)).code, b.p.stderr()).toBe(0);
    expect(
      await until('A owns all 8 tasks again', async () => {
        const t = await readyTasks(a.port);
        return t.length === 8 ? t : undefined;
      }),
    ).toHaveLength(8);
    expect(metricValue(await metrics(a.port), 'eddy_rebalances_total')).toBe(3);
    expect((await sigterm(a.p)).code, a.p.stderr()).toBe(0);

    const check = openBackendAt(dataDir);
    try {
      for (const topic of topology.subtopologies.flatMap((s) => s.sourceTopics)) {
        const committed = await check.log.committedOffsets(topology.groupId, topic);
        for (const o of await check.log.offsets(topic))
          expect(committed.get(o.partition)?.offset, `${topic}:${o.partition}`).toBe(o.high);
      }
    } finally {
      await check.close();
    }
  });
});

describe('eddy worker shutdown: the batch in flight, the bound, the second signal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eddy-worker-slow-'));
  const dataDir = join(dir, 'data');
  const configFile = join(dir, 'conf', 'eddy.json');
  const running: Proc[] = [];

  beforeAll(async () => {
    // A topology registered through the config file (path relative to it) whose agent sleeps SLOW_BATCH_MS per batch.
    const module = `
      import { loadSchemas, topology } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'index.js'))};
      const s = loadSchemas(${JSON.stringify(join(ROOT, 'schemas'))});
      export default () => {
        const t = topology({ name: 'slow', version: 1 });
        const flights = t.source('flights', { key: 'string', value: s.get('Flight') });
        const out = t.output('slow-out', { key: 'string', value: s.get('Flight') });
        t.agent('sleep', flights, async function* (records) {
          await new Promise((r) => setTimeout(r, Number(process.env.SLOW_BATCH_MS)));
          for await (const r of records) yield { key: r.key, value: r.value };
        }).to(out);
        return t.build();
      };
    `;
    rmSync(join(dir, 'conf'), { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'conf', 'topologies'), { recursive: true });
    writeFileSync(join(dir, 'conf', 'topologies', 'slow.mjs'), module);
    writeFileSync(
      configFile,
      JSON.stringify({
        dataDir,
        logLevel: 'debug',
        topologies: { slow: 'topologies/slow.mjs' },
        worker: { maxBatchRecords: 50 },
      }),
    );
    const env = openBackendAt(dataDir);
    try {
      await loadFlightData({ log: env.log, registry: env.registry, limit: 1_000 });
    } finally {
      await env.close();
    }
  }, 120_000);
  afterAll(() => {
    for (const p of running) p.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const start = async (slowMs: number, extra: string[] = []) => {
    const w = await startWorker(['--config', configFile, 'worker', 'slow', ...extra], {
      SLOW_BATCH_MS: String(slowMs),
    });
    running.push(w.p);
    return w;
  };

  it('SIGTERM lets the batch in flight finish and commit, then exits 0; offsets match the commits', async () => {
    const { p } = await start(700);
    await p.waitFor((l) => l.event === 'commit');
    p.child.kill('SIGTERM');
    const e = await p.exit;
    expect(e.code, p.stderr()).toBe(0);
    const shutdownAt = p.lines.findIndex((l) => l.event === 'shutdown');
    expect(shutdownAt).toBeGreaterThan(0);
    // The batch that was sleeping when the signal came committed afterwards.
    const after = p.lines.slice(shutdownAt).filter((l) => l.event === 'commit');
    expect(after.length).toBe(1);
    const committedRecords = p.lines.filter((l) => l.event === 'commit').reduce((a, l) => a + (l.records as number), 0);
    const env = openBackendAt(dataDir);
    try {
      let offsets = 0;
      for (const v of (await env.log.committedOffsets('slow.v1', 'flights')).values()) offsets += v.offset;
      expect(offsets).toBe(committedRecords);
    } finally {
      await env.close();
    }
  });

  it('a shutdown longer than worker.shutdownTimeoutMs exits 1 with a message, at the bound', async () => {
    const { p } = await start(10_000, ['--shutdown-timeout-ms', '500']);
    await p.waitFor((l) => l.event === 'assigned');
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    const e = await p.exit;
    expect(e.code, p.stderr()).toBe(1);
    expect(e.atMs - t0).toBeGreaterThanOrEqual(450);
    expect(e.atMs - t0).toBeLessThan(5_000);
    const line = p.lines.find((l) => l.event === 'error' && l.code === 'SHUTDOWN_TIMEOUT');
    expect(line?.msg).toMatch(
      /^shutdown did not finish within 500 ms \(worker\.shutdownTimeoutMs\); exiting with code 1/,
    );
  });

  it.each([
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const)('a second %s exits at once with code %i', async (signal, code) => {
    const { p } = await start(10_000);
    await p.waitFor((l) => l.event === 'assigned');
    const t0 = Date.now();
    p.child.kill(signal);
    await p.waitFor((l) => l.event === 'shutdown');
    p.child.kill(signal);
    const e = await p.exit;
    expect(e.code, p.stderr()).toBe(code);
    expect(e.atMs - t0).toBeLessThan(5_000);
    expect(p.lines.find((l) => l.event === 'shutdown' && l.signal === signal)?.exitCode).toBe(code);
  });
});

describe('HTTP server', () => {
  function fake(r: Readiness) {
    return startHttpServer({
      host: '127.0.0.1',
      port: 0,
      handlers: {
        readiness: () => r,
        metrics: async () => 'm 1\n',
        metricsContentType: 'text/plain; version=0.0.4; charset=utf-8',
        store: async (name, q) => ({ rows: [{ name, key: q.key ?? null, limit: q.limit }], truncated: false }),
      },
    });
  }

  it('/ready is 503 with the restoring tasks and their progress, /health stays 200', async () => {
    const s = await fake({
      ready: false,
      phase: 'running',
      tasks: [
        { task: '0_0', state: 'running', stores: [] },
        { task: '0_1', state: 'restoring', stores: [{ store: 'route_stats', restored: 40, total: 100 }] },
      ],
    });
    try {
      const r = await get(s.port, '/ready');
      expect(r.status).toBe(503);
      expect(JSON.parse(r.text)).toEqual({
        ready: false,
        phase: 'running',
        reason: '1 task(s) restoring: 0_1',
        restoring: [{ task: '0_1', state: 'restoring', stores: [{ store: 'route_stats', restored: 40, total: 100 }] }],
        tasks: [
          { task: '0_0', state: 'running', stores: [] },
          { task: '0_1', state: 'restoring', stores: [{ store: 'route_stats', restored: 40, total: 100 }] },
        ],
      });
      expect((await get(s.port, '/health')).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('/ready is 503 before the first assignment; routes, methods and limits are checked', async () => {
    const s = await fake({ ready: false, phase: 'joining', tasks: [] });
    try {
      const r = await get(s.port, '/ready');
      expect(r.status).toBe(503);
      expect(JSON.parse(r.text).reason).toBe('runner is joining');
      const m = await get(s.port, '/metrics');
      expect(m).toEqual({ status: 200, text: 'm 1\n', type: 'text/plain; version=0.0.4; charset=utf-8' });
      expect(JSON.parse((await get(s.port, '/stores/x?key=k')).text).rows).toEqual([
        { name: 'x', key: 'k', limit: 100 },
      ]);
      expect((await get(s.port, '/stores/x?limit=0')).status).toBe(400);
      expect((await get(s.port, '/stores/x?limit=10001')).status).toBe(400);
      expect((await get(s.port, '/nope')).status).toBe(404);
      const post = await fetch(`http://127.0.0.1:${s.port}/health`, { method: 'POST' });
      expect(post.status).toBe(405);
      await post.text();
    } finally {
      await s.close();
    }
  });

  it('a port in use is an error naming the fix', async () => {
    const s = await fake({ ready: true, phase: 'running', tasks: [] });
    try {
      await expect(
        startHttpServer({
          host: '127.0.0.1',
          port: s.port,
          handlers: {
            readiness: () => ({ ready: true, phase: 'running', tasks: [] }),
            metrics: async () => '',
            metricsContentType: 'text/plain',
          },
        }),
      ).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+ \(EADDRINUSE\); set another http\.port/);
    } finally {
      await s.close();
    }
  });
});

describe('runner hooks the worker relies on', () => {
  it('readiness() is false while tasks restore (with progress), true once running; rebalances and restores are counted', async () => {
    const topology = buildFlightDelays();
    const env = tempBackend('eddy-ready-');
    try {
      await loadFlightData({ log: env.log, registry: env.registry, limit: 3_000 });
      const first = new TopologyRunner(topology, {
        log: env.log,
        registry: env.registry,
        stateDir: env.stateDir,
        untilIdle: true,
      });
      expect(first.readiness()).toEqual({ ready: false, phase: 'created', tasks: [] });
      await first.run();
      expect(first.phase).toBe('stopped');
      rmSync(env.stateDir, { recursive: true, force: true });

      const during: Readiness[] = [];
      const assigned: string[][] = [];
      const revoked: string[][] = [];
      const runner: TopologyRunner = new TopologyRunner(topology, {
        log: env.log,
        registry: env.registry,
        stateDir: env.stateDir,
        maxBatchRecords: 500,
        onRestore: () => during.push(runner.readiness()),
        onAssigned: (tasks) => assigned.push([...tasks]),
        onRevoked: (tasks) => revoked.push([...tasks]),
      });
      await runner.setup();
      const running = runner.run();
      await until('ready', async () => (runner.readiness().ready ? true : undefined));
      await runner.stop();
      await running;

      expect(during.length).toBeGreaterThan(0);
      for (const r of during) {
        expect(r.ready).toBe(false);
        expect(['joining', 'running']).toContain(r.phase);
        const restoring = r.tasks.filter((t) => t.state === 'restoring');
        expect(restoring.length).toBeGreaterThan(0);
        for (const t of restoring) for (const st of t.stores) expect(st.restored).toBeLessThanOrEqual(st.total);
      }
      expect(during.some((r) => r.tasks.some((t) => t.stores.some((st) => st.restored > 0)))).toBe(true);
      expect(assigned).toEqual([
        ['1_0', '0_0', '1_1', '0_1', '1_2', '0_2', '1_3', '0_3'].map((t) => `flight-delays.v1/${t}`),
      ]);
      expect(revoked.flat().sort()).toEqual(assigned.flat().sort());
      expect(runner.stats.rebalances).toBe(1); // the revocation on stop is not a rebalance
      expect([...runner.stats.restoredBy.values()].reduce((a, b) => a + b, 0)).toBe(runner.stats.restoredRecords);
      expect(runner.stats.restoredRecords).toBeGreaterThan(0);
      expect(runner.readiness()).toEqual({ ready: false, phase: 'stopped', tasks: [] });
    } finally {
      await env.destroy();
    }
  });

  it('eddy_restore_remaining sums what restoring tasks have left per store; restore series exist at 0', async () => {
    const stats = new RunStats();
    stats.restored('a', 7);
    const m = new WorkerMetrics({
      versions: () => [{ name: 'app', version: 1, stats, stores: ['a', 'b'] }],
      rebalances: () => stats.rebalances,
      lag: async () => [{ version: 1, topic: 't', partition: 2, lag: 5 }],
      readiness: () => ({
        ready: false,
        phase: 'running',
        tasks: [
          { task: 'app.v1/0_0', state: 'restoring', stores: [{ store: 'a', restored: 10, total: 25 }] },
          { task: 'app.v1/0_1', state: 'restoring', stores: [{ store: 'a', restored: 1, total: 6 }] },
          { task: 'app.v1/0_2', state: 'running', stores: [{ store: 'a', restored: 3, total: 9 }] },
        ],
      }),
    });
    const text = await m.metrics();
    expect(samples(text, 'eddy_restore_remaining')).toEqual(
      new Map([
        ['{store="a",version="1"}', 20],
        ['{store="b",version="1"}', 0],
      ]),
    );
    expect(samples(text, 'eddy_restore_records_total')).toEqual(
      new Map([
        ['{store="a",version="1"}', 7],
        ['{store="b",version="1"}', 0],
      ]),
    );
    expect(samples(text, 'eddy_consumer_lag')).toEqual(new Map([['{topic="t",partition="2",version="1"}', 5]]));
    expect(metricValue(text, 'eddy_ready')).toBe(0);
    expect(samples(text, 'eddy_tasks')).toEqual(
      new Map([
        ['{state="restoring",version="1"}', 2],
        ['{state="running",version="1"}', 1],
      ]),
    );
    stats.deadLetter('validate');
    stats.late('hourly', 3);
    stats.dropped('enrich', 2);
    const again = await m.metrics();
    expect(metricValue(again, 'eddy_dead_letters_total', '{processor="validate",version="1"}')).toBe(1);
    expect(metricValue(again, 'eddy_late_records_total', '{processor="hourly",version="1"}')).toBe(3);
    expect(metricValue(again, 'eddy_dropped_records_total', '{processor="enrich",version="1"}')).toBe(2);
  });
});
