/**
 * `npm run bench -- --backend kafka [--limit N]`: flight-delays on a real Kafka broker. Uses KAFKA_BROKERS and
 * SCHEMA_REGISTRY_URL when set; otherwise starts the local ones with scripts/kafka-local and scripts/registry-local
 * (and stops them after). Reports, in one run:
 *  - raw kafkajs: consume the flights topic (read_committed) and produce every record to a copy topic, no
 *    processing (the baseline);
 *  - the flight-delays pipeline, exactly-once, and its ratio to the baseline;
 *  - restore: rebuilding every store from its changelog after the state directory is deleted, records/s;
 *  - versions: replaying v2 beside v1 (alone, and in a worker's threads) vs v2's first run, and v1 + v2 in one
 *    runner (shared read, one thread and threads) vs one version alone (`--versions-only` runs just the pipeline and this part).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import kafkajs from 'kafkajs';
import { loadFlightData } from '../examples/flight-delays/load.js';
import { buildFlightDelays, flightDelaysVersions, flightTopics } from '../examples/flight-delays/topology.js';
import { loadConfig } from '../src/config/index.js';
import { KafkaLog } from '../src/log/kafka/index.js';
import { TopologyRunner } from '../src/runtime/runner.js';
import { ThreadedRunner, type ThreadsOptions } from '../src/runtime/threads/host.js';
import { ConfluentSchemaRegistry } from '../src/schema/confluent-registry.js';
import { SqliteKeyValueStore } from '../src/state/kv-store.js';
import { SqliteWindowStore } from '../src/state/window-store.js';
import { packageRoot } from '../src/util/paths.js';

const root = packageRoot(import.meta.url);
const args = process.argv.slice(2);
const limitArg = args.indexOf('--limit');
const limit = limitArg >= 0 ? Number(args[limitArg + 1]) : 300_000;
const versionsOnly = args.includes('--versions-only');

const started: string[] = [];
function ensure(script: string, envVar: string): string {
  const have = process.env[envVar];
  if (have) return have;
  const out = execFileSync(join(root, 'scripts', script), ['start'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  started.push(script);
  return out.trim().split('\n').pop()!;
}

async function rawBaseline(brokers: string[], from: string, to: string, total: number): Promise<number> {
  const kafka = new kafkajs.Kafka({ brokers, clientId: 'eddy-bench-raw', logLevel: kafkajs.logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const parts = (await admin.fetchTopicMetadata({ topics: [from] })).topics[0].partitions.length;
  await admin.createTopics({ topics: [{ topic: to, numPartitions: parts }] });
  await admin.disconnect();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const consumer = kafka.consumer({ groupId: `${to}-group`, readUncommitted: false, maxBytes: 10 * 2 ** 20 });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic: from, fromBeginning: true });
  const t0 = performance.now();
  let n = 0;
  let lastAt = performance.now();
  let idleTimer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve, reject) => {
    // ends at `total` records, or after 5 s without a batch (kafkajs' group join can stall; the rate then counts
    // what was copied, and the table reports that count)
    idleTimer = setInterval(() => {
      if (performance.now() - lastAt > 5_000) resolve();
    }, 500);
    consumer
      .run({
        eachBatch: async ({ batch }) => {
          // kafkajs groups a send's messages by partition in quadratic time: send at most 1,000 at once
          for (let i = 0; i < batch.messages.length; i += 1000) {
            const chunk = batch.messages.slice(i, i + 1000);
            await producer.send({
              topic: to,
              messages: chunk.map((m) => ({
                key: m.key,
                value: m.value,
                partition: batch.partition,
                timestamp: m.timestamp,
              })),
            });
          }
          n += batch.messages.length;
          lastAt = performance.now();
          if (n >= total) resolve();
        },
      })
      .catch(reject);
  });
  clearInterval(idleTimer);
  const ms = (n >= total ? performance.now() : lastAt) - t0;
  process.stderr.write(`raw baseline copied ${n} of ${total} records\n`);
  await consumer.disconnect();
  await producer.disconnect();
  return n / (ms / 1000);
}

const brokersStr = ensure('kafka-local', 'KAFKA_BROKERS');
const registryUrl = ensure('registry-local', 'SCHEMA_REGISTRY_URL');
const brokers = brokersStr.split(',');
const ns = `bench${Date.now().toString(36)}`;
const stateDir = mkdtempSync(join(tmpdir(), 'eddy-bench-kafka-'));
const log = new KafkaLog({ brokers, clientId: ns, logLevel: 'nothing' });
const registry = new ConfluentSchemaRegistry({ host: registryUrl });
try {
  const topics = flightTopics(ns);
  let t0 = performance.now();
  const loaded = await loadFlightData({ log, registry, limit, topics });
  process.stderr.write(`loaded ${loaded.flights} flights\n`);
  const loadRate = loaded.flights / ((performance.now() - t0) / 1000);
  const raw = versionsOnly ? Number.NaN : await rawBaseline(brokers, topics.flights, `${ns}-copy`, loaded.flights);
  process.stderr.write(`raw baseline: ${Math.round(raw)} records/s\n`);

  const topology = buildFlightDelays({ namespace: ns });
  t0 = performance.now();
  const stats = await new TopologyRunner(topology, { log, registry, stateDir, untilIdle: true }).run();
  const pipeMs = performance.now() - t0;
  const pipe = stats.totalIn([topics.flights]) / (pipeMs / 1000);
  process.stderr.write(`pipeline: ${Math.round(pipe)} records/s\n`);

  // Versions: v1 + v2 by shared read on a fresh copy of the input (one thread, then one thread per version).
  const ns3 = `${ns}s`;
  await loadFlightData({ log, registry, limit, topics: flightTopics(ns3) });
  const sharedDir = mkdtempSync(join(tmpdir(), 'eddy-bench-shared-'));
  t0 = performance.now();
  const sharedRunner = new TopologyRunner(flightDelaysVersions({ namespace: ns3 }), {
    log,
    registry,
    stateDir: sharedDir,
    untilIdle: true,
  });
  await sharedRunner.run();
  const sharedRate = sharedRunner.stats.totalIn([flightTopics(ns3).flights]) / ((performance.now() - t0) / 1000);
  const sharedFetched = sharedRunner.fetched;
  rmSync(sharedDir, { recursive: true, force: true });
  process.stderr.write(`shared v1+v2: ${Math.round(sharedRate)} records/s per version\n`);
  // The same with one thread per version (a worker's default): the threads load the versions from a module.
  const ns4 = `${ns}t`;
  await loadFlightData({ log, registry, limit, topics: flightTopics(ns4) });
  const threadsDir = mkdtempSync(join(tmpdir(), 'eddy-bench-threads-'));
  const examples = pathToFileURL(
    join(packageRoot(import.meta.url), 'dist', 'examples', 'flight-delays', 'topology.js'),
  );
  const base = loadConfig({
    env: {
      EDDY_BACKEND: 'kafka',
      KAFKA_BROKERS: brokersStr,
      SCHEMA_REGISTRY_URL: registryUrl,
      EDDY_LOG_LEVEL: 'silent',
    },
    cwd: threadsDir,
  }).config;
  /** The threads' options for flight-delays in `namespace`: a module in `dir` that builds its versions. */
  const threadsFor = (dir: string, namespace: string): ThreadsOptions => {
    const mod = join(dir, 'versions.mjs');
    writeFileSync(
      mod,
      `import { flightDelaysVersions } from '${examples.href}';\nexport default () => flightDelaysVersions({ namespace: '${namespace}' });\n`,
    );
    return { config: { ...base, topologies: { 'bench-versions': mod } }, topology: 'bench-versions' };
  };
  t0 = performance.now();
  const threadsRunner = new ThreadedRunner(flightDelaysVersions({ namespace: ns4 }), {
    log,
    registry,
    stateDir: join(threadsDir, 'state'),
    untilIdle: true,
    threads: threadsFor(threadsDir, ns4),
  });
  await threadsRunner.run();
  const threadsRate = threadsRunner.stats.totalIn([flightTopics(ns4).flights]) / ((performance.now() - t0) / 1000);
  const threadsFetched = threadsRunner.fetched;
  rmSync(threadsDir, { recursive: true, force: true });
  process.stderr.write(`threads v1+v2: ${Math.round(threadsRate)} records/s per version\n`);
  // The replay target compares a version's replay with its own first run. Runs in one process get faster as the JIT
  // and the broker warm up, so the first runs and the replays alternate, in rounds, each on its own copy of the
  // input, and the best of each counts: v2 alone (its first run); v2 replayed beside v1 alone in its runner (as
  // `eddy replay`); v2 replayed beside a caught-up v1 in threads (a worker's default).
  const v2Runs = { first: [] as number[], replay: [] as number[], beside: [] as number[] };
  const rate = (n: number, since: number) => n / ((performance.now() - since) / 1000);
  for (let round = 0; round < 2; round++) {
    const nsF = `${ns}f${round}`;
    await loadFlightData({ log, registry, limit, topics: flightTopics(nsF) });
    const firstDir = mkdtempSync(join(tmpdir(), 'eddy-bench-v2first-'));
    t0 = performance.now();
    const first = await new TopologyRunner(flightDelaysVersions({ namespace: nsF })[1], {
      log,
      registry,
      stateDir: firstDir,
      untilIdle: true,
    }).run();
    v2Runs.first.push(rate(first.totalIn([flightTopics(nsF).flights]), t0));
    rmSync(firstDir, { recursive: true, force: true });
    for (const mode of ['replay', 'beside'] as const) {
      const nsR = `${ns}${mode[0]}${round}`;
      await loadFlightData({ log, registry, limit, topics: flightTopics(nsR) });
      const dir = mkdtempSync(join(tmpdir(), `eddy-bench-${mode}-`));
      const [rv1, rv2] = flightDelaysVersions({ namespace: nsR });
      const at = { log, registry, stateDir: join(dir, 'state'), untilIdle: true };
      await new TopologyRunner(rv1, at).run();
      t0 = performance.now();
      if (mode === 'replay') {
        const st = await new TopologyRunner(rv2, at).run();
        v2Runs.replay.push(rate(st.totalIn([flightTopics(nsR).flights]), t0));
      } else {
        const r = new ThreadedRunner([rv1, rv2], { ...at, threads: threadsFor(dir, nsR) });
        await r.run();
        v2Runs.beside.push(rate(r.statsOf(2)!.totalIn([flightTopics(nsR).flights]), t0));
      }
      rmSync(dir, { recursive: true, force: true });
    }
    process.stderr.write(`round ${round}: ${JSON.stringify(v2Runs)}\n`);
  }
  const best = (xs: number[]) => Math.max(...xs);
  const [v2FirstRate, replayRate, besideRate] = [best(v2Runs.first), best(v2Runs.replay), best(v2Runs.beside)];
  const runsOf = (xs: number[]) => xs.map((x) => Math.round(x)).join(' and ');
  const versionLines = [
    `| flight-delays v2, first run alone (best of ${runsOf(v2Runs.first)}) | ${loaded.flights} | ${Math.round(v2FirstRate)} | the replays' baseline |`,
    `| flight-delays v2 replayed beside v1, alone in its runner as \`eddy replay\` (best of ${runsOf(v2Runs.replay)}) | ${loaded.flights} | ${Math.round(replayRate)} | **${(replayRate / v2FirstRate).toFixed(2)}×** v2's first run |`,
    `| flight-delays v2 replayed beside a caught-up v1, one thread per version, a worker's default (best of ${runsOf(v2Runs.beside)}) | ${loaded.flights} | ${Math.round(besideRate)} | **${(besideRate / v2FirstRate).toFixed(2)}×** v2's first run |`,
    `| v1 + v2 in one runner (shared read) | ${sharedRunner.stats.totalIn([flightTopics(ns3).flights])} each | ${Math.round(sharedRate)} per version | **${(sharedRate / pipe).toFixed(2)}×** a version alone; input fetched ${sharedFetched.sharedInputRecords} times (${sharedFetched.catchUpRecords} by catch-up reads) |`,
    `| v1 + v2, one thread per version (a worker's default) | ${threadsRunner.stats.totalIn([flightTopics(ns4).flights])} each | ${Math.round(threadsRate)} per version | **${(threadsRate / pipe).toFixed(2)}×** a version alone; input fetched ${threadsFetched.sharedInputRecords} times (${threadsFetched.catchUpRecords} by catch-up reads) |`,
  ];
  if (versionsOnly) {
    console.log(
      [
        `Machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}; Kafka 3.9.1 (local) and Apicurio on the same machine. Date: ${new Date().toISOString().slice(0, 10)}.`,
        '',
        '| measurement | records | records/s | note |',
        '|---|---:|---:|---|',
        `| flight-delays v1, exactly-once, first run | ${stats.totalIn([topics.flights])} | ${Math.round(pipe)} | the baseline |`,
        ...versionLines,
      ].join('\n'),
    );
  } else {
    // The same pipeline at-least-once, on a second copy of the input (another namespace, same partitioning).
    const ns2 = `${ns}a`;
    await loadFlightData({ log, registry, limit, topics: flightTopics(ns2) });
    const alosDir = mkdtempSync(join(tmpdir(), 'eddy-bench-alos-'));
    t0 = performance.now();
    const alosStats = await new TopologyRunner(buildFlightDelays({ namespace: ns2 }), {
      log,
      registry,
      stateDir: alosDir,
      untilIdle: true,
      processingGuarantee: 'at-least-once',
    }).run();
    const alos = alosStats.totalIn([flightTopics(ns2).flights]) / ((performance.now() - t0) / 1000);
    rmSync(alosDir, { recursive: true, force: true });
    process.stderr.write(`pipeline at-least-once: ${Math.round(alos)} records/s\n`);

    // Restore alone: every changelog partition read (read_committed) and applied to a fresh SQLite store, the path
    // a task takes when it opens with no local state.
    const restoreDir = mkdtempSync(join(tmpdir(), 'eddy-bench-restore-'));
    t0 = performance.now();
    let restored = 0;
    for (const store of topology.stores.values()) {
      for (const o of await log.offsets(store.changelog)) {
        const path = join(restoreDir, `${store.name}-${o.partition}.sqlite`);
        const bytes =
          store.kind === 'kv' ? new SqliteKeyValueStore(store.name, path) : new SqliteWindowStore(store.name, path);
        for await (const batch of log.read(
          { topic: store.changelog, partition: o.partition },
          { maxBatchRecords: 10_000 },
        )) {
          bytes.apply(
            batch.map((r) => ({ key: r.key!, value: r.value })),
            batch[batch.length - 1].offset + 1,
          );
          restored += batch.length;
        }
        bytes.close();
      }
    }
    const restore = restored / ((performance.now() - t0) / 1000);
    rmSync(restoreDir, { recursive: true, force: true });

    // Rebuild end to end: the state directory deleted, a runner opens every task (group join, fencing, restore).
    rmSync(stateDir, { recursive: true, force: true });
    t0 = performance.now();
    const again = await new TopologyRunner(topology, { log, registry, stateDir, untilIdle: true }).run();
    const rebuild = again.restoredRecords / ((performance.now() - t0) / 1000);

    const lines = [
      `Machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 20)} MiB RAM, Node ${process.version}; Kafka 3.9.1 (local, single node, KRaft) and Apicurio 3.x on the same machine. Date: ${new Date().toISOString().slice(0, 10)}.`,
      '',
      '| measurement | records | records/s | note |',
      '|---|---:|---:|---|',
      `| load (parquet → Avro → Kafka, idempotent producer) | ${loaded.flights} | ${Math.round(loadRate)} | |`,
      `| raw kafkajs consume + produce (baseline) | ${loaded.flights} | ${Math.round(raw)} | read_committed consumer, idempotent producer, no processing |`,
      `| flight-delays v1, exactly-once | ${stats.totalIn([topics.flights])} | ${Math.round(pipe)} | ${(pipe / raw).toFixed(2)}× the raw baseline; ${stats.commits} transactions |`,
      `| flight-delays v1, at-least-once | ${alosStats.totalIn([flightTopics(ns2).flights])} | ${Math.round(alos)} | ${(alos / raw).toFixed(2)}× the raw baseline |`,
      `| restore: changelog read + SQLite apply | ${restored} | ${Math.round(restore)} | both stores, every partition |`,
      `| rebuild with a runner after deleting the state directory | ${again.restoredRecords} | ${Math.round(rebuild)} | includes group join, fencing, task open |`,
      ...versionLines,
    ];
    console.log(lines.join('\n'));
  }
} finally {
  await log.close();
  await registry.close();
  rmSync(stateDir, { recursive: true, force: true });
  for (const s of started) execFileSync(join(root, 'scripts', s), ['stop'], { stdio: 'ignore' });
}
