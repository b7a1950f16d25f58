/**
 * Debugging a pipeline that already ran: `eddy run <topology> --dry-run` (`cmdDryRun`, routed from `cmdRun`) and
 * `eddy trace` (registered by `registerDebugCommands`). src/debug does the work; this file parses and prints.
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { EddyConfig, LoadedConfig } from '../config/index.js';
import { type DryRunReport, dryRun } from '../debug/dry-run.js';
import { type TraceResult, traceOutput, traceStore } from '../debug/trace.js';
import { ConfigError } from '../errors.js';
import type { StoreInfo } from '../topology/graph.js';
import { openBackend } from './env.js';
import { formatRows } from './format.js';
import { resolveVersion } from './topologies.js';

/** Parses an ISO time (`--from`, `--window`) to ms since epoch. */
export function isoTime(flag: string) {
  return (raw: string): number => {
    const ms = Date.parse(raw);
    if (Number.isNaN(ms))
      throw new InvalidArgumentError(`${flag} must be an ISO time (2008-01-03T10:00:00Z), got "${raw}"`);
    return ms;
  };
}

const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x));
const at = (ms: number) => new Date(ms).toISOString();

/** `eddy run <topology> --dry-run [--limit N] [--from <time>]`: one version (`--version`, else the live one). */
export async function cmdDryRun(
  config: EddyConfig,
  name: string,
  o: { version?: number; limit?: number; from?: number },
): Promise<void> {
  const b = await openBackend(config);
  try {
    const topology = await resolveVersion(b.log, name, o.version, config.topologies);
    const report = await dryRun({
      log: b.log,
      registry: b.registry,
      stateDir: b.paths.stateDir,
      topology,
      limit: o.limit,
      fromMs: o.from,
      maxBatchRecords: config.worker.maxBatchRecords,
      processingGuarantee: config.worker.processingGuarantee,
    });
    printDryRun(report);
  } finally {
    await b.close();
  }
}

function printDryRun(r: DryRunReport): void {
  const n = r.inputs.reduce((a, s) => a + s.records, 0);
  console.log(`dry run of ${r.topology} v${r.version}: nothing was written to the log, the registry or the stores`);
  console.log(`input: ${n} records`);
  for (const s of r.inputs.filter((x) => x.records > 0))
    console.log(`  ${s.topic}[${s.partition}] offsets ${s.fromOffset}..${s.toOffset - 1} (${s.records} records)`);
  for (const s of r.repartitionBacklog)
    console.log(
      `  backlog ${s.topic}[${s.partition}] offsets ${s.fromOffset}..${s.toOffset - 1} (${s.records} records)`,
    );
  console.log('\nwould write:');
  if (r.outputs.length === 0) console.log('  no output records');
  for (const o of r.outputs) {
    console.log(`  ${o.topic}: ${o.records} records; first ${o.sample.length}:`);
    for (const s of o.sample)
      console.log(
        `    [${s.partition}] ${json(s.key)} ${json(s.value)} (from ${s.source.topic}[${s.source.partition}]@${s.source.offset})`,
      );
  }
  const d = r.deadLetters;
  console.log(`  ${d.topic}: ${d.records} dead letters`);
  for (const x of d.byReason.slice(0, 10)) console.log(`    ${x.records} x ${x.processor}: ${x.reason}`);
  for (const s of d.sample)
    console.log(
      `    ${s.source.topic}[${s.source.partition}]@${s.source.offset} ${s.processor}: ${s.reason} ${json(s.value)}`,
    );
  const late = Object.entries(r.late);
  if (late.length > 0) console.log(`  late records: ${late.map(([p, c]) => `${p}: ${c}`).join(', ')}`);
  console.log('\nstore changes:');
  if (r.stores.length === 0) console.log('  none');
  for (const s of r.stores) {
    console.log(
      `  ${s.store}: ${s.keysChanged} keys changed (${s.changelogRecords} changelog records); first ${s.sample.length}:`,
    );
    for (const c of s.sample)
      console.log(
        `    ${json(c.key)}${c.windowStartMs === undefined ? '' : ` window ${at(c.windowStartMs)}`}: ${json(c.before)} -> ${json(c.after)}`,
      );
  }
  if (r.wouldRegister.length > 0) console.log(`\nschemas a real run would register: ${r.wouldRegister.join(', ')}`);
}

/** Parses `--key` for a store: a string key as is, another key type as JSON. */
function parseKey(raw: string, info: StoreInfo): unknown {
  if (info.keySchema === 'string') return raw;
  try {
    return JSON.parse(raw);
  } catch {
    throw new ConfigError(`--key ${raw} is not valid JSON; store "${info.name}" has a non-string key`);
  }
}

function printTrace(r: TraceResult, format: 'table' | 'jsonl'): void {
  if (format === 'jsonl') {
    for (const s of r.steps) process.stdout.write(`${json(s)}\n`);
    return;
  }
  const where = `${json(r.key)}${r.windowStartMs === undefined ? '' : ` window ${at(r.windowStartMs)}`}`;
  console.log(`trace of ${r.store} ${where} in ${r.topology} v${r.version} (task partition ${r.partition})`);
  const replayed = r.replayed.reduce((a, s) => a + s.records, 0);
  console.log(
    `replayed ${replayed} records of ${r.replayed.map((s) => `${s.topic}[${s.partition}]`).join(', ') || 'nothing'} in ${(r.elapsedMs / 1000).toFixed(1)} s; ${r.steps.length} records reached the key`,
  );
  if (r.repartition.records > 0)
    console.log(
      `repartition: kept ${r.repartition.kept} of ${r.repartition.records} records (by ${r.repartition.keyFiltered.length > 0 ? 'key' : 'partition'})`,
    );
  process.stdout.write(
    formatRows(
      r.steps.map((s) => ({
        topic: s.topic,
        partition: s.partition,
        offset: s.offset,
        timestamp: at(s.timestamp),
        status: s.status,
        value_after: json(s.value),
      })),
      'table',
    ),
  );
  console.log(`final value: ${r.value === undefined ? '(none)' : json(r.value)}`);
}

/** Registers `eddy trace`. */
export function registerDebugCommands(program: Command, config: (cmd: Command) => LoadedConfig): void {
  program
    .command('trace')
    .description(
      'the input records (topic, partition, offset, timestamp) that made a store value or an output record, and the value after each (a replay that writes nothing)',
    )
    .argument('<topology>', 'topology name')
    .option('--version <n>', 'version (default: the live version)', (raw) => {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 1)
        throw new InvalidArgumentError(`--version must be a positive integer, got "${raw}"`);
      return n;
    })
    .option('--store <store>', 'a state store of the topology')
    .option('--key <key>', 'the store key (JSON for a key that is not a string)')
    .option(
      '--window <time>',
      'window stores: an ISO time inside the window (its start for hopping windows)',
      isoTime('--window'),
    )
    .option('--output <topic>', 'an output topic of the version')
    .option('--offset <p:o>', 'the output record: partition:offset', (raw) => {
      const m = /^(\d+):(\d+)$/.exec(raw);
      if (!m) throw new InvalidArgumentError(`--offset must be partition:offset (e.g. 2:1500), got "${raw}"`);
      return { partition: Number(m[1]), offset: Number(m[2]) };
    })
    .option('--format <format>', 'table or jsonl (one step per line)', 'table')
    .action(async (name: string, o, cmd: Command) => {
      const c = config(cmd).config;
      const byStore = o.store !== undefined || o.key !== undefined;
      const byOutput = o.output !== undefined || o.offset !== undefined;
      if (
        byStore === byOutput ||
        (byStore && (o.store === undefined || o.key === undefined)) ||
        (byOutput && (o.output === undefined || o.offset === undefined))
      )
        throw new ConfigError('eddy trace needs either --store S --key K [--window T], or --output O --offset P:O');
      if (o.format !== 'table' && o.format !== 'jsonl')
        throw new ConfigError(`--format must be table or jsonl, got "${o.format}"`);
      const b = await openBackend(c);
      try {
        const topology = await resolveVersion(b.log, name, o.version, c.topologies);
        const common = {
          log: b.log,
          registry: b.registry,
          topology,
          processingGuarantee: c.worker.processingGuarantee,
        };
        if (byStore) {
          const info = topology.stores.get(o.store);
          if (info === undefined)
            throw new ConfigError(
              `${topology.name} v${topology.version} has no store "${o.store}"; stores: ${[...topology.stores.keys()].join(', ')}`,
            );
          printTrace(
            await traceStore({ ...common, store: o.store, key: parseKey(o.key, info), windowMs: o.window }),
            o.format,
          );
        } else {
          const r = await traceOutput({ ...common, output: o.output, ...o.offset });
          if (o.format === 'table')
            console.log(
              `output ${o.output} ${o.offset.partition}:${o.offset.offset}: ${json(r.output.key)} ${json(r.output.value)}`,
            );
          printTrace(r, o.format);
        }
      } finally {
        await b.close();
      }
    });
}
