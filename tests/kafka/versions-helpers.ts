/**
 * Helpers for the versions tests on a real Kafka broker (versions-*.kafka.test.ts): a namespace holding a topology
 * module with several versions for `eddy` processes, the built CLI run to its end, every process a test spawns
 * stopped at the end (pass or fail), and the Kafka admin's own view of topics and consumer groups.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { loadFlightData } from '../../examples/flight-delays/load.js';
import type { Flight } from '../../examples/flight-delays/types.js';
import type { KafkaLog } from '../../src/log/kafka/index.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import type { ConfluentSchemaRegistry } from '../../src/schema/confluent-registry.js';
import { loadSchemas } from '../../src/schema/load.js';
import { CLI, cleanEnv, eddy, type Proc, ROOT } from '../helpers/proc.js';
import { uniqueName } from '../log/helpers.js';
import { kafkaEnv, kafkaLog, registry } from './helpers.js';

/** A namespace on the shared broker: inputs `<ns>-flights`/`<ns>-airports`, and a directory for `eddy` processes. */
export interface VersionsNamespace {
  readonly ns: string;
  /** The topology's name (`<ns>-<topology>`), also its key in eddy.config.json. */
  readonly name: string;
  readonly topics: { flights: string; airports: string };
  /** cwd of `eddy` processes: eddy.config.json (backend kafka) and the topology module `topology.mjs`. */
  readonly dir: string;
  /** `<dir>/.eddy`: the data directory the CLI uses there (state stores under `state/`). */
  readonly dataDir: string;
  readonly log: KafkaLog;
  readonly registry: ConfluentSchemaRegistry;
  /** Env for `eddy` processes (this broker and registry). */
  readonly env: Record<string, string>;
  /** Appends flights (`skip`, `limit`, Flight schema version) to the namespace's inputs. */
  load(o: { skip?: number; limit: number; flightSchemaVersion?: 1 | 2 }): Promise<void>;
  /** Runs the built CLI to its end in `dir` (without blocking the test's event loop: other processes' pipes drain). */
  cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Spawns a long-running `eddy` process in `dir`; `cleanup` kills it if it still runs. */
  spawn(args: string[]): Proc;
  /** Kills every process spawned here that still runs, closes the clients, deletes the directory. */
  cleanup(): Promise<void>;
}

/**
 * Creates a namespace whose `topology.mjs` is `module(ns, dist)` (JavaScript; `dist` is the built package's root,
 * e.g. `${dist}/src/index.js`), registered as `<ns>-<topology>` (the name the module's topologies must have). The
 * flights topic gets `partitions` partitions (default 4).
 */
export function versionsNamespace(
  prefix: string,
  topology: string,
  module: (ns: string, dist: string) => string,
  o: { maxBatchRecords: number; partitions?: number },
): VersionsNamespace {
  const { brokers, registryUrl } = kafkaEnv();
  const ns = uniqueName(prefix).replace(/-\d+$/, '');
  const name = `${ns}-${topology}`;
  const topics = { flights: `${ns}-flights`, airports: `${ns}-airports` };
  const dir = mkdtempSync(join(tmpdir(), `eddy-${prefix}-`));
  writeFileSync(join(dir, 'topology.mjs'), module(ns, join(ROOT, 'dist')));
  writeFileSync(
    join(dir, 'eddy.config.json'),
    JSON.stringify({
      backend: 'kafka',
      topologies: { [name]: './topology.mjs' },
      kafka: { sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 },
      worker: { maxBatchRecords: o.maxBatchRecords, shutdownTimeoutMs: 30_000 },
    }),
  );
  const log = kafkaLog(ns);
  const reg = registry();
  const env = {
    KAFKA_BROKERS: brokers.join(','),
    SCHEMA_REGISTRY_URL: registryUrl,
    EDDY_HTTP_PORT: '0',
    EDDY_LOG_LEVEL: 'info',
  };
  const procs: Proc[] = [];
  const children: ChildProcess[] = [];
  return {
    ns,
    name,
    topics,
    dir,
    dataDir: join(dir, '.eddy'),
    log,
    registry: reg,
    env,
    async load(l) {
      await loadFlightData({ log, registry: reg, topics, partitions: o.partitions, ...l });
    },
    cli(args) {
      const child = spawn(process.execPath, [CLI, ...args], {
        cwd: dir,
        env: cleanEnv(env),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
      });
      return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
    },
    spawn(args) {
      const p = eddy(args, env, { cwd: dir });
      procs.push(p);
      return p;
    },
    async cleanup() {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      for (const p of procs)
        if (p.child.exitCode === null && p.child.signalCode === null) {
          p.child.kill('SIGKILL');
          await p.exit;
        }
      await log.close();
      await reg.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The Kafka admin's view, independent of eddy's log: topic names and consumer group ids on the broker. */
export async function brokerView(): Promise<{ topics: string[]; groups: string[] }> {
  const kafka = new Kafka({ clientId: 'eddy-test-admin', brokers: kafkaEnv().brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId);
    return { topics, groups };
  } finally {
    await admin.disconnect();
  }
}

/** The valid input flights of a namespace (delay in [-120, 1800]), decoded straight from the topic. */
export async function validFlights(n: VersionsNamespace): Promise<Flight[]> {
  const schema = loadSchemas(join(ROOT, 'schemas')).get('Flight')!;
  const serde = await AvroSerde.create<Flight>(n.registry, `${n.topics.flights}-value`, schema);
  const out: Flight[] = [];
  for (const p of await n.log.offsets(n.topics.flights))
    for await (const batch of n.log.read({ topic: n.topics.flights, partition: p.partition })) {
      await serde.prepare(new Set(batch.map((r) => AvroSerde.schemaIdOf(r.value!))));
      for (const r of batch) out.push(serde.deserialize(r.value!));
    }
  return out.filter((f) => f.delay >= -120 && f.delay <= 1800);
}

/**
 * Appends, to each partition of the namespace's flights, a copy of that partition's last flight with a delay out of
 * range (`delayMin`, default 5,000): records every version sends to its dead-letter topic. Same timestamp as the
 * copied flight, so stream time is unchanged. Deterministic: the same input gives the same records.
 */
export async function appendInvalidFlights(n: VersionsNamespace, delayMin = 5_000): Promise<number> {
  const schema = loadSchemas(join(ROOT, 'schemas')).get('Flight')!;
  const serde = await AvroSerde.create<Flight>(n.registry, `${n.topics.flights}-value`, schema);
  const records = [];
  for (const p of await n.log.offsets(n.topics.flights)) {
    if (p.high === p.low) continue;
    for await (const batch of n.log.read(
      { topic: n.topics.flights, partition: p.partition },
      { fromOffset: p.high - 1 },
    ))
      for (const r of batch) {
        await serde.prepare([AvroSerde.schemaIdOf(r.value!)]);
        const f = serde.deserialize(r.value!);
        records.push({
          topic: n.topics.flights,
          partition: p.partition,
          key: r.key,
          value: serde.serialize({ ...f, delay: delayMin }),
          timestamp: r.timestamp,
        });
      }
  }
  const producer = n.log.producer();
  try {
    await producer.send(records);
  } finally {
    await producer.close();
  }
  return records.length;
}
