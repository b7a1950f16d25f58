/**
 * Helpers for tests against the real Kafka broker and schema registry that `tests/infra/global-setup.ts` starts
 * (or the ones named by KAFKA_BROKERS / SCHEMA_REGISTRY_URL). Nothing here is a test double.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import { buildFlightDelays, flightTopics } from '../../examples/flight-delays/topology.js';
import type { Log } from '../../src/log/contract.js';
import { KafkaLog } from '../../src/log/kafka/index.js';
import { readStore } from '../../src/runtime/inspect.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import { ConfluentSchemaRegistry } from '../../src/schema/confluent-registry.js';
import type { SchemaRegistry } from '../../src/schema/types.js';
import type { Topology } from '../../src/topology/graph.js';
import { ROOT } from '../helpers/proc.js';
import { uniqueName } from '../log/helpers.js';

/** The broker and registry addresses; throws (so the suite fails, never skips) when they are missing. */
export function kafkaEnv(): { brokers: string[]; registryUrl: string } {
  const brokers = process.env.KAFKA_BROKERS;
  const registryUrl = process.env.SCHEMA_REGISTRY_URL;
  if (!brokers || !registryUrl)
    throw new Error(
      'KAFKA_BROKERS and SCHEMA_REGISTRY_URL must be set: tests/infra/global-setup.ts starts a local Kafka and registry (npm test does this); set them to use your own',
    );
  return { brokers: brokers.split(','), registryUrl };
}

/** A Kafka log with test-friendly group timings (a killed member leaves the group within seconds). */
export function kafkaLog(clientId: string, brokers = kafkaEnv().brokers): KafkaLog {
  return new KafkaLog({ brokers, clientId, logLevel: 'nothing', sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000 });
}

export function registry(): ConfluentSchemaRegistry {
  return new ConfluentSchemaRegistry({ host: kafkaEnv().registryUrl });
}

/**
 * A namespace on the shared broker for one flight-delays copy: its topology, a working directory with an
 * `eddy.config.json` registering that topology for `eddy worker`, and the flights loaded.
 */
export interface FlightNamespace {
  readonly ns: string;
  readonly topology: Topology;
  readonly topics: { flights: string; airports: string };
  /** cwd for `eddy` processes: holds eddy.config.json and the topology module. */
  readonly dir: string;
  readonly log: KafkaLog;
  readonly registry: SchemaRegistry;
  /** Env for `eddy` processes (Kafka backend, this broker and registry). */
  readonly env: Record<string, string>;
  cleanup(): Promise<void>;
}

export async function flightNamespace(opts: {
  limit: number;
  maxBatchRecords: number;
  brokers?: string[];
}): Promise<FlightNamespace> {
  const { registryUrl } = kafkaEnv();
  const brokers = opts.brokers ?? kafkaEnv().brokers;
  const ns = uniqueName('fd').replace(/-\d+$/, '');
  const topology = buildFlightDelays({ namespace: ns });
  const topics = flightTopics(ns);
  const dir = mkdtempSync(join(tmpdir(), 'eddy-kafka-'));
  writeFileSync(
    join(dir, 'topology.mjs'),
    `import { buildFlightDelays } from ${JSON.stringify(join(ROOT, 'dist', 'examples', 'flight-delays', 'topology.js'))};\n` +
      `export default () => buildFlightDelays({ namespace: ${JSON.stringify(ns)} });\n`,
  );
  writeFileSync(
    join(dir, 'eddy.config.json'),
    JSON.stringify({
      backend: 'kafka',
      topologies: { [topology.name]: './topology.mjs' },
      kafka: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 },
      worker: { maxBatchRecords: opts.maxBatchRecords, shutdownTimeoutMs: 30_000 },
    }),
  );
  const log = kafkaLog(ns, brokers);
  const reg = registry();
  await loadFlightData({ log, registry: reg, limit: opts.limit, topics });
  return {
    ns,
    topology,
    topics,
    dir,
    log,
    registry: reg,
    env: {
      KAFKA_BROKERS: brokers.join(','),
      SCHEMA_REGISTRY_URL: registryUrl,
      EDDY_HTTP_PORT: '0',
      EDDY_LOG_LEVEL: 'info',
    },
    async cleanup() {
      await log.close();
      await reg.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * What a run produced, decoded and free of names that differ between namespaces: per output and dead-letter
 * partition, the records in offset order (decoded value, or dead-letter processor/reason, plus the source
 * partition/offset they trace to); per store, the rows. Topics are read read_committed.
 */
export interface Decoded {
  outputs: string[][];
  deadLetters: string[][];
  stores: Record<string, Record<string, unknown>[]>;
}

export async function decodedSnapshot(
  log: Log,
  reg: SchemaRegistry,
  stateDir: string | undefined,
  t: Topology,
): Promise<Decoded> {
  const out: Decoded = { outputs: [], deadLetters: [], stores: {} };
  for (const info of t.topics.values()) {
    if (info.role !== 'output' && info.role !== 'dlq') continue;
    const serde = info.valueSchema
      ? await AvroSerde.create<unknown>(reg, `${info.name}-value`, info.valueSchema)
      : undefined;
    for (const o of await log.offsets(info.name)) {
      const rows: string[] = [];
      for await (const batch of log.read({ topic: info.name, partition: o.partition }))
        for (const r of batch) {
          const src = `${r.headers['eddy.source.partition']?.toString()}/${r.headers['eddy.source.offset']?.toString()}`;
          if (serde) {
            await serde.prepare([AvroSerde.schemaIdOf(r.value!)]);
            rows.push(`${src} ${JSON.stringify(serde.deserialize(r.value!))}`);
          } else
            rows.push(
              `${src} ${r.headers['eddy.dlq.processor']?.toString()}: ${r.headers['eddy.dlq.reason']?.toString()}`,
            );
        }
      (info.role === 'dlq' ? out.deadLetters : out.outputs).push(rows);
    }
  }
  if (stateDir !== undefined)
    for (const s of t.stores.values())
      out.stores[s.name] = await readStore({ stateDir, topology: t, store: s, registry: reg }).catch(() => []);
  return out;
}

/** Polls until `fn` resolves true; throws after `timeoutMs` with `what`. */
export async function eventually(
  what: string,
  fn: () => Promise<boolean>,
  timeoutMs = 120_000,
  everyMs = 500,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      if (await fn()) return;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${String(lastErr)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Sum of the group's committed offsets on a topic. */
export async function committedSum(log: Log, group: string, topic: string): Promise<number> {
  let n = 0;
  for (const v of (await log.committedOffsets(group, topic)).values()) n += v.offset;
  return n;
}
