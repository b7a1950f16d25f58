/**
 * `node --expose-gc dist/bench/kafka-pairs.js [--limit 300000] [--pairs 5] [--threaded]` (after `npm run build` or
 * `npm run bench`; KAFKA_BROKERS and SCHEMA_REGISTRY_URL must point at a running broker and registry, e.g. from
 * `scripts/kafka-local start` and `scripts/registry-local start`): the Kafka replay target measured in alternating
 * pairs instead of a best of two. Each pair runs flight-delays v2's first run and a replay of v2 beside a caught-up
 * v1, each on its own fresh copy of the input, in alternating order (so drift in the machine or the broker falls on
 * both sides); prints each pair's records/s and ratio, and the median ratio. The replay is `eddy replay`'s path (v2
 * alone in its runner), or with `--threaded` a worker's (v1 and v2 in a `ThreadedRunner`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadFlightData } from '../examples/flight-delays/load.js';
import { flightDelaysVersions, flightTopics } from '../examples/flight-delays/topology.js';
import { loadConfig } from '../src/config/index.js';
import { KafkaLog } from '../src/log/kafka/index.js';
import { TopologyRunner } from '../src/runtime/runner.js';
import type { RunStats } from '../src/runtime/stats.js';
import { ThreadedRunner } from '../src/runtime/threads/host.js';
import { ConfluentSchemaRegistry } from '../src/schema/confluent-registry.js';
import { packageRoot } from '../src/util/paths.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
const limit = opt('--limit', 300_000);
const pairs = opt('--pairs', 5);
const threaded = args.includes('--threaded');
const brokers = process.env.KAFKA_BROKERS;
const registryUrl = process.env.SCHEMA_REGISTRY_URL;
if (!brokers || !registryUrl) {
  process.stderr.write(
    'kafka-pairs: set KAFKA_BROKERS and SCHEMA_REGISTRY_URL (scripts/kafka-local, scripts/registry-local)\n',
  );
  process.exit(2);
}
const ns = `pairs${Date.now().toString(36)}`;
const log = new KafkaLog({ brokers: brokers.split(','), clientId: ns, logLevel: 'nothing' });
const registry = new ConfluentSchemaRegistry({ host: registryUrl });
const examples = pathToFileURL(join(packageRoot(import.meta.url), 'dist', 'examples', 'flight-delays', 'topology.js'));

/** v2's records/s on a fresh copy of the input in `namespace`: its first run, or a replay beside a caught-up v1. */
async function v2Rate(mode: 'first' | 'replay', namespace: string): Promise<number> {
  await loadFlightData({ log, registry, limit, topics: flightTopics(namespace) });
  const dir = mkdtempSync(join(tmpdir(), 'eddy-bench-pairs-'));
  try {
    const [v1, v2] = flightDelaysVersions({ namespace });
    const at = { log, registry, stateDir: join(dir, 'state'), untilIdle: true };
    if (mode === 'replay') await new TopologyRunner(v1, at).run();
    const t0 = performance.now();
    let stats: RunStats;
    if (mode === 'replay' && threaded) {
      const mod = join(dir, 'versions.mjs');
      writeFileSync(
        mod,
        `import { flightDelaysVersions } from '${examples.href}';\nexport default () => flightDelaysVersions({ namespace: '${namespace}' });\n`,
      );
      const env = {
        EDDY_BACKEND: 'kafka',
        KAFKA_BROKERS: brokers,
        SCHEMA_REGISTRY_URL: registryUrl,
        EDDY_LOG_LEVEL: 'silent',
      };
      const config = { ...loadConfig({ env, cwd: dir }).config, topologies: { 'bench-versions': mod } };
      const r = new ThreadedRunner([v1, v2], { ...at, threads: { config, topology: 'bench-versions' } });
      await r.run();
      stats = r.statsOf(2)!;
    } else stats = await new TopologyRunner(v2, at).run();
    return stats.totalIn([flightTopics(namespace).flights]) / ((performance.now() - t0) / 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  const rows: { first: number; replay: number; ratio: number }[] = [];
  for (let i = 0; i < pairs; i++) {
    const rate: Record<string, number> = {};
    for (const mode of i % 2 === 0 ? (['first', 'replay'] as const) : (['replay', 'first'] as const))
      rate[mode] = await v2Rate(mode, `${ns}${mode[0]}${i}`);
    rows.push({ first: Math.round(rate.first), replay: Math.round(rate.replay), ratio: rate.replay / rate.first });
    process.stderr.write(`pair ${i + 1}: ${JSON.stringify(rows[i])}\n`);
  }
  const ratios = rows.map((r) => r.ratio).sort((a, b) => a - b);
  const median =
    ratios.length % 2 === 1
      ? ratios[(ratios.length - 1) / 2]
      : (ratios[ratios.length / 2 - 1] + ratios[ratios.length / 2]) / 2;
  process.stdout.write(
    `${threaded ? "a worker's threaded replay" : "eddy replay's path"}, ${limit} flights, ${pairs} pairs: ` +
      `first ${rows.map((r) => r.first).join(' ')}; replay ${rows.map((r) => r.replay).join(' ')}; ` +
      `ratios ${rows.map((r) => r.ratio.toFixed(2)).join(' ')}; median ${median.toFixed(2)}x\n`,
  );
} finally {
  await log.close();
}
