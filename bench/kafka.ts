/**
 * `npm run bench -- --backend kafka [--limit N]`: flight-delays on a real Kafka broker. Uses KAFKA_BROKERS and
 * SCHEMA_REGISTRY_URL when set; otherwise starts the local ones with scripts/kafka-local and scripts/registry-local
 * (and stops them after). Reports, in one run:
 *  - raw kafkajs: consume the flights topic (read_committed) and produce every record to a copy topic, no
 *    processing (the baseline);
 *  - the flight-delays pipeline, exactly-once, and its ratio to the baseline;
 *  - restore: rebuilding every store from its changelog after the state directory is deleted, records/s.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { loadFlightData } from '../examples/flight-delays/load.js';
import { buildFlightDelays, flightTopics } from '../examples/flight-delays/topology.js';
import { KafkaLog } from '../src/log/kafka/index.js';
import { TopologyRunner } from '../src/runtime/runner.js';
import { ConfluentSchemaRegistry } from '../src/schema/confluent-registry.js';
import { packageRoot } from '../src/util/paths.js';

const root = packageRoot(import.meta.url);
const args = process.argv.slice(2);
const limitArg = args.indexOf('--limit');
const limit = limitArg >= 0 ? Number(args[limitArg + 1]) : 300_000;

const started: string[] = [];
function ensure(script: string, envVar: string): string {
  const have = process.env[envVar];
  if (have) return have;
  const out = execFileSync(join(root, 'scripts', script), ['start'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
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
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        eachBatch: async ({ batch }) => {
          await producer.send({
            topic: to,
            messages: batch.messages.map((m) => ({ key: m.key, value: m.value, partition: batch.partition, timestamp: m.timestamp })),
          });
          n += batch.messages.length;
          if (n >= total) resolve();
        },
      })
      .catch(reject);
  });
  const ms = performance.now() - t0;
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
  const raw = await rawBaseline(brokers, topics.flights, `${ns}-copy`, loaded.flights);
  process.stderr.write(`raw baseline: ${Math.round(raw)} records/s\n`);

  const topology = buildFlightDelays({ namespace: ns });
  t0 = performance.now();
  const stats = await new TopologyRunner(topology, { log, registry, stateDir, untilIdle: true }).run();
  const pipeMs = performance.now() - t0;
  const pipe = stats.totalIn([topics.flights]) / (pipeMs / 1000);
  process.stderr.write(`pipeline: ${Math.round(pipe)} records/s\n`);

  rmSync(stateDir, { recursive: true, force: true });
  t0 = performance.now();
  const again = await new TopologyRunner(topology, { log, registry, stateDir, untilIdle: true }).run();
  const restoreMs = performance.now() - t0;
  const restore = again.restoredRecords / (restoreMs / 1000);

  const lines = [
    `Machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 20)} MiB RAM, Node ${process.version}; Kafka 3.9.1 (local, single node, KRaft) and Apicurio 3.x on the same machine. Date: ${new Date().toISOString().slice(0, 10)}.`,
    '',
    '| measurement | records | records/s | note |',
    '|---|---:|---:|---|',
    `| load (parquet → Avro → Kafka, idempotent producer) | ${loaded.flights} | ${Math.round(loadRate)} | |`,
    `| raw kafkajs consume + produce (baseline) | ${loaded.flights} | ${Math.round(raw)} | read_committed consumer, idempotent producer, no processing |`,
    `| flight-delays v1, exactly-once | ${stats.totalIn([topics.flights])} | ${Math.round(pipe)} | ${(pipe / raw).toFixed(2)}× the raw baseline; ${stats.commits} transactions |`,
    `| restore of both stores from their changelogs | ${again.restoredRecords} | ${Math.round(restore)} | state directory deleted; includes group join and task open |`,
  ];
  console.log(lines.join('\n'));
} finally {
  await log.close();
  await registry.close();
  rmSync(stateDir, { recursive: true, force: true });
  for (const s of started) execFileSync(join(root, 'scripts', s), ['stop'], { stdio: 'ignore' });
}
