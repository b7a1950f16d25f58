import cliProgress from 'cli-progress';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { type EddyConfig, type LoadedConfig, renderConfigTable } from '../config/index.js';
import { CONFIG_SCHEMA, type SchemaNode } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import type { Log } from '../log/contract.js';
import { recordedNote, recordedView } from '../replay/recorded.js';
import { liveVersionOf, readVersions } from '../replay/registry.js';
import { refuseConcurrentRun } from '../replay/replay.js';
import { recordedRun } from '../runs/recorder.js';
import { createRunner } from '../runtime/create-runner.js';
import { readStore } from '../runtime/inspect.js';
import { createLogger, errorCode } from '../runtime/logger.js';
import { runWorker } from '../runtime/run-worker.js';
import type { RunStats } from '../runtime/stats.js';
import type { ProcessingGuarantee } from '../runtime/task.js';
import type { ThreadsOptions } from '../runtime/threads/host.js';
import { describeMermaid, describeText } from '../topology/describe.js';
import type { Topology } from '../topology/graph.js';
import { cmdDryRun } from './debug.js';
import { type Backend, dataPaths, openBackend, withBackend } from './env.js';
import { type Format, formatRows } from './format.js';
import { findStore, loadTopology, loadVersions, versionsToRun } from './topologies.js';

function bar(enabled: boolean, label: string): cliProgress.SingleBar | undefined {
  if (!enabled || !process.stderr.isTTY) return undefined;
  return new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} records | {rate} rec/s | ETA {eta_formatted}`,
      stream: process.stderr,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
}

/** `eddy load`. */
export async function cmdLoad(
  config: EddyConfig,
  o: {
    limit?: number;
    skip?: number;
    flightSchema?: number;
    partitions: number;
    flights?: string;
    airports?: string;
    progress: boolean;
  },
): Promise<void> {
  if (o.flightSchema !== undefined && o.flightSchema !== 1 && o.flightSchema !== 2)
    throw new ConfigError(`--flight-schema must be 1 or 2, got ${o.flightSchema}`);
  await withBackend(config, (b) => cmdLoadInto(b, o));
}

/** Records left to read in the source topics of `t` for its consumer group (the run's total, for ETA). */
async function remaining(log: Log, t: Topology): Promise<number> {
  let n = 0;
  for (const info of t.topics.values()) {
    if (info.role !== 'source') continue;
    const committed = await log.committedOffsets(t.groupId, info.name);
    for (const o of await log.offsets(info.name))
      n += o.high - Math.max(o.low, committed.get(o.partition)?.offset ?? 0);
  }
  return n;
}

/**
 * Runs the versions `ts` of a topology in one runner (one read of the inputs for all) with a progress bar; stops on
 * SIGINT/SIGTERM after committing the batch in flight. Returns each version's counters.
 */
async function runTopology(
  b: Backend,
  ts: readonly Topology[],
  o: {
    untilIdle?: boolean;
    maxBatchRecords: number;
    processingGuarantee?: ProcessingGuarantee;
    progress: boolean;
    threads?: ThreadsOptions;
    /** The version numbers the code defines (a refused fingerprint suggests one free in the code too). */
    knownVersions: readonly number[];
  },
): Promise<{ stats: Map<Topology, RunStats>; retired: readonly number[] }> {
  const first = ts[0];
  const sources = [...first.topics.values()].filter((x) => x.role === 'source').map((x) => x.name);
  const pb = bar(o.progress, ts.map((t) => t.groupId).join(' + '));
  const started = Date.now();
  let lastDraw = 0;
  const runner = createRunner(ts, {
    threads: o.threads,
    log: b.log,
    registry: b.registry,
    stateDir: b.paths.stateDir,
    untilIdle: o.untilIdle,
    maxBatchRecords: o.maxBatchRecords,
    processingGuarantee: o.processingGuarantee,
    knownVersions: o.knownVersions,
    onWarning: (_event, message) => process.stderr.write(`eddy: warning: ${message}\n`),
    onBatch: () => {
      const now = Date.now();
      if (pb === undefined || now - lastDraw < 200) return;
      lastDraw = now;
      const n = runner.stats.totalIn(sources);
      pb.update(n, { rate: Math.round(n / Math.max(0.001, (now - started) / 1000)) });
    },
  });
  await runner.setup();
  pb?.start(await remaining(b.log, first), 0, { rate: 0 });
  const stop = () => void runner.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await recordedRun(b.log, runner, { kind: 'run', idle: o.untilIdle === true }, () => runner.run());
    return { stats: new Map(runner.versions.map((v) => [v.topology, v.stats])), retired: runner.retiredVersions };
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    const n = runner.stats.totalIn(sources);
    pb?.update(n, { rate: Math.round(n / Math.max(0.001, (Date.now() - started) / 1000)) });
    pb?.stop();
  }
}

/**
 * `eddy run <topology> [--version N]`: every version that is not retired (see `versionsToRun`), or version N.
 */
export async function cmdRun(
  config: EddyConfig,
  name: string,
  o: { untilIdle?: boolean; progress: boolean; version?: number; dryRun?: boolean; limit?: number; from?: number },
): Promise<void> {
  if (o.dryRun) return cmdDryRun(config, name, o);
  if (o.limit !== undefined || o.from !== undefined) throw new ConfigError('--limit and --from go with --dry-run');
  await withBackend(config, async (b) => {
    let ts = await versionsToRun(b.log, name, config.topologies, o.version);
    for (const t of ts) await refuseConcurrentRun(b.log, t, 'run');
    const knownVersions = (await loadVersions(name, config.topologies)).map((t) => t.version);
    // A version retired meanwhile (`eddy retire`) stops the runner; the other versions go on from their committed
    // positions in a new one, as a worker's do.
    for (;;) {
      const started = Date.now();
      const { stats, retired } = await runTopology(b, ts, {
        ...o,
        maxBatchRecords: config.worker.maxBatchRecords,
        processingGuarantee: config.worker.processingGuarantee,
        threads: config.worker.versionThreads ? { config, topology: name } : undefined,
        knownVersions,
      });
      for (const [t, st] of stats) printSummary(t, st, Date.now() - started);
      if (retired.length === 0) return;
      ts = ts.filter((t) => !retired.includes(t.version));
      console.log(
        `${name}: version ${retired.join(', ')} was retired (eddy retire): stopped running it${ts.length > 0 ? `; going on with version ${ts.map((t) => t.version).join(', ')}` : ''}`,
      );
      if (ts.length === 0) return;
    }
  });
}

/** Above this share of late input records, a run's summary warns. */
const LATE_WARNING_RATIO = 0.01;

function printSummary(t: Topology, stats: RunStats, elapsedMs: number): void {
  const sources = [...t.topics.values()].filter((x) => x.role === 'source').map((x) => x.name);
  const n = stats.totalIn(sources);
  const s = elapsedMs / 1000;
  console.log(
    `${t.groupId}: processed ${n} input records in ${s.toFixed(1)} s (${Math.round(n / Math.max(s, 0.001))} records/s), ${stats.commits} commits`,
  );
  const dl = [...stats.deadLetters].map(([p, c]) => `${p}: ${c}`).join(', ');
  console.log(`  dead letters -> ${t.deadLetterTopic}: ${dl || 'none'}`);
  const skipped = stats.totalRedrivenSkipped();
  if (skipped > 0)
    console.log(
      `  re-driven copies skipped: ${skipped} (copies of another version's dead letters; this version read their originals)`,
    );
  const late = [...stats.lateBy].map(([p, c]) => `${p}: ${c}`).join(', ');
  if (late) console.log(`  late records: ${late}`);
  const lateTotal = [...stats.lateBy.values()].reduce((a, b) => a + b, 0);
  if (n > 0 && lateTotal / n > LATE_WARNING_RATIO)
    console.log(
      `  warning: ${((100 * lateTotal) / n).toFixed(1)} % of the input records were late (after their window's end + grace). Stream time is the largest event time seen per partition: an input not in event-time order (e.g. sorted by key) makes most records late. Check the source's order and event time, or widen the grace.`,
    );
  const out = [...stats.recordsOut]
    .filter(([topic]) => !topic.endsWith('.repartition'))
    .map(([topic, c]) => `${topic}: ${c}`)
    .join(', ');
  console.log(`  records out: ${out || 'none'}`);
}

/** `eddy topics`. */
export async function cmdTopics(config: EddyConfig, o: { format: Format }): Promise<void> {
  await withBackend(config, async ({ log }) => {
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
export async function cmdInspect(
  config: EddyConfig,
  store: string,
  o: { topology?: string; version?: number; key?: string; limit?: number; format: Format },
): Promise<void> {
  await withBackend(config, async ({ log, registry, paths }) => {
    // the live version unless --version names one; two topologies or versions with the store: an error listing them
    const snap = await readVersions(log);
    const found = await findStore(store, o.topology, config.topologies, {
      version: o.version,
      liveVersion: (n) => liveVersionOf(snap, n),
    });
    // the store as its version recorded it (window sizes, schemas), whatever today's code says
    const { topology, changes } = recordedView(found.topology, snap);
    if (changes.length > 0) process.stderr.write(`eddy: ${recordedNote(found.topology, changes)}\n`);
    const rows = await readStore({
      stateDir: paths.stateDir,
      topology,
      store: topology.stores.get(store)!,
      registry,
      key: o.key,
    });
    if (o.key !== undefined && rows.length === 0)
      process.stderr.write(`eddy: no key ${JSON.stringify(o.key)} in store ${store} of ${topology.groupId}\n`);
    process.stdout.write(formatRows(o.limit ? rows.slice(0, o.limit) : rows, o.format));
  });
}

/** `eddy describe <topology>`. */
export async function cmdDescribe(
  config: EddyConfig,
  name: string,
  o: { format: 'text' | 'mermaid' | 'both'; version?: number },
): Promise<void> {
  const versions = await loadVersions(name, config.topologies);
  const t = await loadTopology(name, config.topologies, o.version);
  // describe reads only the code; which version is live is `eddy versions`' answer
  if (versions.length > 1 && o.format !== 'mermaid')
    console.log(
      `(versions in the code: ${versions.map((v) => `v${v.version}`).join(', ')}; this is v${t.version}: --version N shows another, eddy versions ${name} says which is live)\n`,
    );
  if (o.format !== 'mermaid') console.log(describeText(t));
  if (o.format === 'both') console.log('');
  if (o.format !== 'text') console.log(describeMermaid(t));
}

/** `eddy demo`: load if needed, run flight-delays until idle, print the 10 worst airport-hours by average delay. */
export async function cmdDemo(
  config: EddyConfig,
  o: { limit?: number; minFlights: number; progress: boolean },
): Promise<void> {
  await withBackend(config, async (b) => {
    const flights = await b.log.describeTopic('flights');
    const loaded = flights === undefined ? 0 : (await b.log.offsets('flights')).reduce((a, x) => a + x.high, 0);
    if (loaded === 0) await cmdLoadInto(b, o);
    else console.log(`topic flights already holds ${loaded} records; not loading again (use --fresh to start over)`);
    // the example exists for the demo wherever it runs, whatever topologies the project's config registers
    const ts = await versionsToRun(b.log, 'flight-delays', {});
    const t = ts[0];
    const started = Date.now();
    const { stats: all } = await runTopology(b, ts, {
      untilIdle: true,
      maxBatchRecords: config.worker.maxBatchRecords,
      processingGuarantee: config.worker.processingGuarantee,
      progress: o.progress,
      knownVersions: (await loadVersions('flight-delays', {})).map((v) => v.version),
    });
    for (const [v, st] of all) printSummary(v, st, Date.now() - started);
    const rows = await readStore({
      stateDir: b.paths.stateDir,
      topology: t,
      store: t.stores.get('delays_by_airport_hour')!,
      registry: b.registry,
    });
    const worst = rows
      .filter((r) => Number(r.flights) >= o.minFlights)
      .sort(
        (a, b2) => Number(b2.avg_delay) - Number(a.avg_delay) || String(a.airport).localeCompare(String(b2.airport)),
      )
      .slice(0, 10);
    console.log(
      `\n10 worst airport-hours by average delay${o.minFlights > 1 ? ` (at least ${o.minFlights} flights)` : ''}, from store delays_by_airport_hour:`,
    );
    process.stdout.write(formatRows(worst, 'table'));
  });
}

async function cmdLoadInto(
  b: Backend,
  o: {
    limit?: number;
    skip?: number;
    flightSchema?: number;
    partitions?: number;
    flights?: string;
    airports?: string;
    progress: boolean;
  },
): Promise<void> {
  const started = Date.now();
  const pb = bar(o.progress, 'load');
  let on = false;
  const res = await loadFlightData({
    log: b.log,
    registry: b.registry,
    limit: o.limit,
    skip: o.skip,
    flightSchemaVersion: o.flightSchema as 1 | 2 | undefined,
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
  console.log(
    `loaded ${res.flights} flights into topic flights and ${res.airports} airports into topic airports in ${s.toFixed(1)} s (${Math.round(res.flights / s)} records/s)`,
  );
}

/**
 * `eddy worker <topology>`: runs the topology until SIGTERM/SIGINT with the HTTP server and JSON logs; resolves
 * with the exit code (see `runWorker`). Errors before the worker starts are logged as JSON too.
 */
export async function cmdWorker(loaded: LoadedConfig, name: string, o: { version?: number } = {}): Promise<number> {
  const { config } = loaded;
  const topology = await loadTopology(name, config.topologies, o.version);
  const logger = createLogger({ level: config.logLevel, base: { topology: topology.name } });
  let backend: Backend;
  try {
    backend = await openBackend(config, {
      kafkaLogSink: (l) => logger[l.level]({ event: 'kafkajs', namespace: l.namespace, ...l.fields }, l.message),
    });
  } catch (err) {
    logger.error(
      { event: 'error', code: errorCode(err), err },
      `cannot open the ${config.backend} backend: ${(err as Error).message}`,
    );
    return 1;
  }
  const paths = dataPaths(config.dataDir);
  let versions: Topology[];
  let knownVersions: number[];
  let definedVersions: Topology[];
  try {
    versions = await versionsToRun(backend.log, name, config.topologies, o.version);
    const defined = await loadVersions(name, config.topologies);
    knownVersions = defined.map((t) => t.version);
    // `--version N` pins the worker to N; without it, it follows the registry (starts versions replayed or promoted)
    definedVersions = o.version === undefined ? defined : versions;
  } catch (err) {
    logger.error({ event: 'error', code: errorCode(err), err }, (err as Error).message);
    await backend.close();
    return 1;
  }
  return runWorker({
    topology: versions[0],
    versions,
    knownVersions,
    definedVersions,
    log: backend.log,
    registry: backend.registry,
    stateDir: paths.stateDir,
    logger,
    http: config.http,
    maxBatchRecords: config.worker.maxBatchRecords,
    processingGuarantee: config.worker.processingGuarantee,
    shutdownTimeoutMs: config.worker.shutdownTimeoutMs,
    maxReconnectMs: config.kafka.maxReconnectMs,
    describe: { backend: config.backend, dataDir: paths.dataDir, configFile: loaded.file ?? null },
    threads: config.worker.versionThreads
      ? {
          config,
          topology: name,
          kafkaLogSink: (l) => logger[l.level]({ event: 'kafkajs', namespace: l.namespace, ...l.fields }, l.message),
        }
      : undefined,
    close: () => backend.close(),
    // started by npm (npx, npm exec, npm start): npm exits on SIGTERM without passing it on, so follow the parent
    followParent: process.env.npm_command !== undefined,
  });
}

function redact(value: unknown, node: SchemaNode | undefined): unknown {
  if (node?.['x-secret'] && value !== undefined) return '***';
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redact(v, node?.properties?.[k]);
  return out;
}

/** `eddy config`: the effective configuration (secrets hidden) and where each key came from; `--docs`: the reference. */
export function cmdConfig(loaded: LoadedConfig, o: { docs?: boolean }): void {
  if (o.docs) {
    process.stdout.write(renderConfigTable());
    return;
  }
  const origins = Object.fromEntries(loaded.origins);
  process.stdout.write(
    `${JSON.stringify({ config: redact(loaded.config, CONFIG_SCHEMA), file: loaded.file ?? null, origins }, null, 2)}\n`,
  );
}
