import cliProgress from 'cli-progress';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import type { Log } from '../log/contract.js';
import { readStore } from '../runtime/inspect.js';
import { TopologyRunner } from '../runtime/runner.js';
import type { RunStats } from '../runtime/stats.js';
import { describeMermaid, describeText } from '../topology/describe.js';
import type { Topology } from '../topology/graph.js';
import { type Backend, type DataPaths, openBackend } from './env.js';
import { type Format, formatRows } from './format.js';
import { findStore, loadTopology } from './topologies.js';

async function withBackend<T>(paths: DataPaths, fn: (b: Backend) => Promise<T>): Promise<T> {
  const b = openBackend(paths);
  try {
    return await fn(b);
  } finally {
    await b.close();
  }
}

function bar(enabled: boolean, label: string): cliProgress.SingleBar | undefined {
  if (!enabled || !process.stderr.isTTY) return undefined;
  return new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} records | {rate} rec/s | ETA {eta_formatted}`, stream: process.stderr, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
}

/** `eddy load`. */
export async function cmdLoad(
  paths: DataPaths,
  o: { limit?: number; partitions: number; flights?: string; airports?: string; progress: boolean },
): Promise<void> {
  await withBackend(paths, (b) => cmdLoadInto(b, o));
}

/** Records left to read in the source topics of `t` for its consumer group (the run's total, for ETA). */
async function remaining(log: Log, t: Topology): Promise<number> {
  let n = 0;
  for (const info of t.topics.values()) {
    if (info.role !== 'source') continue;
    const committed = await log.committedOffsets(t.groupId, info.name);
    for (const o of await log.offsets(info.name)) n += o.high - Math.max(o.low, committed.get(o.partition)?.offset ?? 0);
  }
  return n;
}

/** Runs `t` with a progress bar; stops on SIGINT/SIGTERM after committing the batch in flight. */
async function runTopology(b: Backend, t: Topology, o: { untilIdle?: boolean; maxBatchRecords: number; progress: boolean }): Promise<RunStats> {
  const sources = [...t.topics.values()].filter((x) => x.role === 'source').map((x) => x.name);
  const pb = bar(o.progress, t.groupId);
  const started = Date.now();
  let lastDraw = 0;
  const runner = new TopologyRunner(t, {
    log: b.log,
    registry: b.registry,
    stateDir: b.paths.stateDir,
    untilIdle: o.untilIdle,
    maxBatchRecords: o.maxBatchRecords,
    onBatch: (stats) => {
      const now = Date.now();
      if (pb === undefined || now - lastDraw < 200) return;
      lastDraw = now;
      const n = stats.totalIn(sources);
      pb.update(n, { rate: Math.round(n / Math.max(0.001, (now - started) / 1000)) });
    },
  });
  await runner.setup();
  pb?.start(await remaining(b.log, t), 0, { rate: 0 });
  const stop = () => void runner.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await runner.run();
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    const n = runner.stats.totalIn(sources);
    pb?.update(n, { rate: Math.round(n / Math.max(0.001, (Date.now() - started) / 1000)) });
    pb?.stop();
  }
}

/** `eddy run <topology>`. */
export async function cmdRun(paths: DataPaths, name: string, o: { untilIdle?: boolean; maxBatchRecords: number; progress: boolean }): Promise<void> {
  const t = await loadTopology(name);
  await withBackend(paths, async (b) => {
    const started = Date.now();
    const stats = await runTopology(b, t, o);
    printSummary(t, stats, Date.now() - started);
  });
}

function printSummary(t: Topology, stats: RunStats, elapsedMs: number): void {
  const sources = [...t.topics.values()].filter((x) => x.role === 'source').map((x) => x.name);
  const n = stats.totalIn(sources);
  const s = elapsedMs / 1000;
  console.log(`${t.groupId}: processed ${n} input records in ${s.toFixed(1)} s (${Math.round(n / Math.max(s, 0.001))} records/s), ${stats.commits} commits`);
  const dl = [...stats.deadLetters].map(([p, c]) => `${p}: ${c}`).join(', ');
  console.log(`  dead letters -> ${t.deadLetterTopic}: ${dl || 'none'}`);
  const late = [...stats.lateBy].map(([p, c]) => `${p}: ${c}`).join(', ');
  if (late) console.log(`  late records: ${late}`);
  const out = [...stats.recordsOut].filter(([topic]) => !topic.endsWith('.repartition')).map(([topic, c]) => `${topic}: ${c}`).join(', ');
  console.log(`  records out: ${out || 'none'}`);
}

/** `eddy topics`. */
export async function cmdTopics(paths: DataPaths, o: { format: Format }): Promise<void> {
  await withBackend(paths, async ({ log }) => {
    const rows = [];
    for (const d of await log.listTopics()) {
      const offs = await log.offsets(d.name);
      rows.push({
        topic: d.name,
        partitions: d.partitions,
        compacted: d.compacted,
        records: offs.reduce((a, x) => a + (x.high - x.low), 0),
        end_offsets: offs.map((x) => x.high).join(' '),
      });
    }
    process.stdout.write(formatRows(rows, o.format));
  });
}

/** `eddy inspect <store>`. */
export async function cmdInspect(paths: DataPaths, store: string, o: { topology?: string; key?: string; limit?: number; format: Format }): Promise<void> {
  const { topology } = await findStore(store, o.topology);
  await withBackend(paths, async ({ registry }) => {
    const rows = await readStore({ stateDir: paths.stateDir, topology, store: topology.stores.get(store)!, registry, key: o.key });
    process.stdout.write(formatRows(o.limit ? rows.slice(0, o.limit) : rows, o.format));
  });
}

/** `eddy describe <topology>`. */
export async function cmdDescribe(name: string, o: { format: 'text' | 'mermaid' | 'both' }): Promise<void> {
  const t = await loadTopology(name);
  if (o.format !== 'mermaid') console.log(describeText(t));
  if (o.format === 'both') console.log('');
  if (o.format !== 'text') console.log(describeMermaid(t));
}

/** `eddy demo`: load if needed, run flight-delays until idle, print the 10 worst airport-hours by average delay. */
export async function cmdDemo(paths: DataPaths, o: { limit?: number; minFlights: number; progress: boolean }): Promise<void> {
  const t = await loadTopology('flight-delays');
  await withBackend(paths, async (b) => {
    const flights = await b.log.describeTopic('flights');
    const loaded = flights === undefined ? 0 : (await b.log.offsets('flights')).reduce((a, x) => a + x.high, 0);
    if (loaded === 0) await cmdLoadInto(b, o);
    else console.log(`topic flights already holds ${loaded} records; not loading again (use --fresh to start over)`);
    const started = Date.now();
    const stats = await runTopology(b, t, { untilIdle: true, maxBatchRecords: 5000, progress: o.progress });
    printSummary(t, stats, Date.now() - started);
    const rows = await readStore({ stateDir: paths.stateDir, topology: t, store: t.stores.get('delays_by_airport_hour')!, registry: b.registry });
    const worst = rows
      .filter((r) => Number(r.flights) >= o.minFlights)
      .sort((a, b2) => Number(b2.avg_delay) - Number(a.avg_delay) || String(a.airport).localeCompare(String(b2.airport)))
      .slice(0, 10);
    console.log(`\n10 worst airport-hours by average delay${o.minFlights > 1 ? ` (at least ${o.minFlights} flights)` : ''}, from store delays_by_airport_hour:`);
    process.stdout.write(formatRows(worst, 'table'));
  });
}

async function cmdLoadInto(
  b: Backend,
  o: { limit?: number; partitions?: number; flights?: string; airports?: string; progress: boolean },
): Promise<void> {
  const started = Date.now();
  const pb = bar(o.progress, 'load');
  let on = false;
  const res = await loadFlightData({
    log: b.log,
    registry: b.registry,
    limit: o.limit,
    partitions: o.partitions,
    flightsFile: o.flights,
    airportsFile: o.airports,
    onProgress: (n, total) => {
      if (!pb) return;
      if (!on) {
        pb.start(total, 0, { rate: 0 });
        on = true;
      }
      pb.update(n, { rate: Math.round(n / ((Date.now() - started) / 1000)) });
    },
  });
  pb?.stop();
  const s = (Date.now() - started) / 1000;
  console.log(`loaded ${res.flights} flights into topic flights and ${res.airports} airports into topic airports in ${s.toFixed(1)} s (${Math.round(res.flights / s)} records/s)`);
}
