/**
 * `eddy produce`, `eddy tail` and `eddy dlq`: getting one's own data in, reading any topic decoded, and dead-letter
 * triage and re-drive. Thin: parses and validates, calls src/tools, prints.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { Argument, type Command, InvalidArgumentError, Option } from 'commander';
import type { EddyConfig, LoadedConfig } from '../config/index.js';
import { ConfigError } from '../errors.js';
import type { LogRecord } from '../log/contract.js';
import { schemaFromText } from '../schema/avro.js';
import { loadSchemas } from '../schema/load.js';
import type { AvroSchema } from '../schema/types.js';
import { headerText, showRecord, WriterDecoder } from '../tools/decode.js';
import {
  deadLetterOf,
  planRedrive,
  readDeadLetters,
  redrive,
  redriveRecord,
  showDeadLetter,
  summarize,
} from '../tools/dlq.js';
import { produce } from '../tools/produce.js';
import { describeLateRedrives, lateRedrives } from '../tools/redrive-late.js';
import {
  formatOf,
  INPUT_FORMATS,
  type InputFormat,
  type InputRow,
  parseParquetRows,
  parseRows,
  withNulls,
} from '../tools/rows.js';
import { DEFAULT_LAST_RECORDS, parsePartitionOffset, parseTime, type TailStart, tail } from '../tools/tail.js';
import type { Topology } from '../topology/graph.js';
import { packageRoot } from '../util/paths.js';
import { type Backend, withBackend } from './env.js';
import { formatRows } from './format.js';
import { resolveVersion } from './topologies.js';

type ConfigOf = (cmd: Command) => LoadedConfig;

function positiveInt(what: string) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`${what} must be a positive integer, got "${raw}"`);
    return n;
  };
}

/** Registers `produce`, `tail` and `dlq` on the program. */
export function registerDataCommands(program: Command, config: ConfigOf): void {
  program
    .command('produce')
    .description(
      "append rows (JSON lines, JSON, CSV, Parquet) to a topic as Avro in the Confluent wire format, partitioned like eddy; every row is checked against the value schema before anything is written; registers the schemas under the topic's subjects, as a producer does",
    )
    .argument('<topic>', 'topic to append to (created with --partitions and no time retention if missing)')
    .option('--file <file>', 'input file (default: stdin)')
    .addOption(
      new Option('--format <format>', 'input format (default: by file extension, else jsonl)').choices(INPUT_FORMATS),
    )
    .option('--key-field <field>', 'the field holding the key (without it: null keys, all in partition 0)')
    .option('--timestamp-field <field>', 'the field holding the event time: ms since epoch or ISO-8601 (default: now)')
    .option(
      '--value-schema <schema>',
      "a schema name in ./schemas (or eddy's schemas/), or a path to an .avsc file; registered under <topic>-value (default: the latest version registered there)",
    )
    .option('--partitions <n>', 'partitions of the topic if it is created', positiveInt('--partitions'), 4)
    .option('--null-values <list>', 'comma-separated texts read as null, e.g. NA,"" ("" is the empty string)')
    .option('--compacted', "create the topic compacted (a table's topic: latest value per key)")
    .option('--no-progress', 'no progress bar')
    .action(async (topic: string, o, cmd: Command) => cmdProduce(config(cmd).config, topic, o));

  program
    .command('tail')
    .description(
      `print a topic's records decoded (key, value, partition, offset, timestamp, headers), read_committed; default: the last ${DEFAULT_LAST_RECORDS} records of each partition`,
    )
    .argument('[topic]', 'topic to read (or --dlq <topology>)')
    .addOption(new Option('--from-beginning', 'from the first record of each partition').conflicts(['offset', 'from']))
    .addOption(new Option('--offset <p:o>', 'only partition P, from offset O').conflicts(['from']))
    .option('--from <time>', 'from the first record at or after this ISO-8601 time in each partition')
    .option('--limit <n>', 'at most N records in all', positiveInt('--limit'))
    .option('--follow', 'keep polling for new records until SIGINT')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'jsonl']).default('table'))
    .option('--dlq <topology>', "read the dead-letter topic of the topology's live version (or --version N)")
    .option('--version <n>', 'with --dlq: this version', positiveInt('--version'))
    .action(async (topic: string | undefined, o, cmd: Command) => cmdTail(config(cmd).config, topic, o));

  program
    .command('dlq')
    .description(
      'dead letters of a topology version: summary (counts by reason, processor, source topic), show (decoded, with provenance), redrive (send the original records back to their source topic, each at most once)',
    )
    .argument('<topology>', 'topology name')
    .addArgument(new Argument('<action>', 'summary, show or redrive').choices(['summary', 'show', 'redrive']))
    .option('--version <n>', 'version of the topology (default: the live version)', positiveInt('--version'))
    .option('--reason <text>', 'only dead letters whose reason contains this text, or matches it with numbers as N')
    .addOption(new Option('--yes', 'redrive: send (without it, print what would be sent)').conflicts('dryRun'))
    .option('--dry-run', 'redrive: print what would be sent and the copies that would be late again (the default)')
    .option('--limit <n>', 'show: at most N dead letters', positiveInt('--limit'))
    .option(
      '--batch-records <n>',
      'redrive: dead letters per transaction (default 500)',
      positiveInt('--batch-records'),
    )
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'jsonl']).default('table'))
    .action(async (name: string, action: 'summary' | 'show' | 'redrive', o, cmd: Command) =>
      cmdDlq(config(cmd).config, name, action, o),
    );
}

/** A `--value-schema`: an .avsc path, else a name in ./schemas, else a name in eddy's own schemas/. */
export function resolveValueSchema(spec: string): AvroSchema {
  if (spec.endsWith('.avsc') || existsSync(spec)) {
    const path = resolve(spec);
    if (!existsSync(path)) throw new ConfigError(`--value-schema ${spec}: file not found (${path})`);
    try {
      return schemaFromText(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new ConfigError(`--value-schema ${spec}: not an Avro schema: ${(err as Error).message}`);
    }
  }
  const dirs = [resolve('schemas'), join(packageRoot(import.meta.url), 'schemas')].filter(
    (d, i, all) => existsSync(d) && all.indexOf(d) === i,
  );
  const names: string[] = [];
  for (const dir of dirs) {
    const schemas = loadSchemas(dir);
    const s = schemas.get(spec);
    if (s !== undefined) return s;
    names.push(...schemas.keys());
  }
  throw new ConfigError(
    `--value-schema ${spec}: no such schema in ${dirs.join(' or ')} (known: ${[...new Set(names)].join(', ') || 'none'}); give a name there or a path to an .avsc file`,
  );
}

async function readInput(file: string | undefined): Promise<{ text: string; source: string }> {
  if (file !== undefined) {
    if (!existsSync(file)) throw new ConfigError(`--file ${file}: file not found`);
    return { text: readFileSync(file, 'utf8'), source: file };
  }
  if (process.stdin.isTTY)
    throw new ConfigError(
      'eddy produce reads its rows from --file <file> or from stdin: give --file or pipe the rows in',
    );
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return { text: Buffer.concat(chunks).toString('utf8'), source: 'stdin' };
}

/**
 * `--null-values NA,""`: comma-separated texts read as null; `""` (two double quotes) stands for the empty string.
 */
export function parseNullValues(spec: string | undefined): string[] {
  if (spec === undefined) return [];
  return spec.split(',').map((v) => (v === '""' ? '' : v));
}

/** `eddy produce`. */
async function cmdProduce(
  config: EddyConfig,
  topic: string,
  o: {
    file?: string;
    format?: InputFormat;
    keyField?: string;
    timestampField?: string;
    valueSchema?: string;
    partitions: number;
    progress: boolean;
    nullValues?: string;
    compacted?: boolean;
  },
): Promise<void> {
  const valueSchema = o.valueSchema === undefined ? undefined : resolveValueSchema(o.valueSchema);
  const format = o.format ?? formatOf(o.file);
  let rows: InputRow[];
  let source: string;
  if (format === 'parquet') {
    if (o.file === undefined) throw new ConfigError('--format parquet needs --file (Parquet is not read from stdin)');
    source = o.file;
    rows = await parseParquetRows(readFileSync(o.file), o.file);
  } else {
    const input = await readInput(o.file);
    source = input.source;
    rows = parseRows(input.text, format, input.source);
  }
  rows = withNulls(rows, parseNullValues(o.nullValues));
  const started = Date.now();
  await withBackend(config, async (b) => {
    const pb =
      o.progress && process.stderr.isTTY
        ? new cliProgress.SingleBar(
            { format: `produce ${topic} [{bar}] {percentage}% | {value}/{total} records`, stream: process.stderr },
            cliProgress.Presets.shades_classic,
          )
        : undefined;
    pb?.start(rows.length, 0);
    try {
      const r = await produce({
        log: b.log,
        registry: b.registry,
        topic,
        rows,
        source,
        keyField: o.keyField,
        timestampField: o.timestampField,
        valueSchema,
        partitions: o.partitions,
        compacted: o.compacted,
        onWarning: (m) => process.stderr.write(`eddy: warning: ${m}\n`),
        onProgress: (n) => pb?.update(n),
      });
      pb?.stop();
      const s = (Date.now() - started) / 1000;
      const subjects = r.subjects
        .map((x) => `${x.subject} id ${x.id}${x.registered ? ' (registered)' : ''}`)
        .join(', ');
      console.log(
        `produced ${r.records} records to ${r.topic} (${r.created ? 'created, ' : ''}${r.partitions} partitions: ${r.perPartition.join(' ')}) in ${s.toFixed(1)} s; schemas: ${subjects}`,
      );
    } finally {
      pb?.stop();
    }
  });
}

/** The live (or --version) version of a topology. */
async function versionOf(b: Backend, config: EddyConfig, name: string, version?: number): Promise<Topology> {
  return resolveVersion(b.log, name, version, config.topologies);
}

/** `eddy tail`. */
async function cmdTail(
  config: EddyConfig,
  topicArg: string | undefined,
  o: {
    fromBeginning?: boolean;
    offset?: string;
    from?: string;
    limit?: number;
    follow?: boolean;
    format: 'table' | 'jsonl';
    dlq?: string;
    version?: number;
  },
): Promise<void> {
  if (topicArg !== undefined && o.dlq !== undefined)
    throw new ConfigError('give a topic or --dlq <topology>, not both');
  if (topicArg === undefined && o.dlq === undefined) throw new ConfigError('give a topic to read, or --dlq <topology>');
  if (o.version !== undefined && o.dlq === undefined) throw new ConfigError('--version goes with --dlq <topology>');
  const start: TailStart = o.fromBeginning
    ? { kind: 'beginning' }
    : o.offset !== undefined
      ? { kind: 'offset', ...parsePartitionOffset(o.offset) }
      : o.from !== undefined
        ? { kind: 'time', timestampMs: parseTime(o.from) }
        : { kind: 'last', records: DEFAULT_LAST_RECORDS };
  await withBackend(config, async (b) => {
    const topic = o.dlq !== undefined ? (await versionOf(b, config, o.dlq, o.version)).deadLetterTopic : topicArg!;
    const decoder = new WriterDecoder(b.registry);
    const held: Record<string, unknown>[] = [];
    const abort = new AbortController();
    const stop = () => abort.abort();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      await tail({
        log: b.log,
        topic,
        start,
        limit: o.limit,
        follow: o.follow,
        signal: abort.signal,
        onRecords: async (records) => {
          const rows = [];
          for (const r of records)
            rows.push(o.dlq !== undefined ? await dlqRow(decoder, r) : await tailRow(decoder, r));
          // one table for the whole read; while following, one per batch as it arrives
          if (o.format === 'table' && !o.follow) held.push(...rows);
          else process.stdout.write(formatRows(rows, o.format));
        },
      });
      if (held.length > 0) process.stdout.write(formatRows(held, o.format));
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  });
}

async function tailRow(d: WriterDecoder, r: LogRecord): Promise<Record<string, unknown>> {
  const s = await showRecord(d, r);
  return {
    partition: s.partition,
    offset: s.offset,
    timestamp: s.timestamp,
    key: s.key,
    value: s.value,
    headers: s.headers,
  };
}

async function dlqRow(d: WriterDecoder, r: LogRecord): Promise<Record<string, unknown>> {
  const shown = await showDeadLetter(d, deadLetterOf(r));
  return { ...shown, headers: headerText(r.headers) };
}

/** `eddy dlq <topology> summary | show | redrive`. */
async function cmdDlq(
  config: EddyConfig,
  name: string,
  action: 'summary' | 'show' | 'redrive',
  o: {
    version?: number;
    reason?: string;
    yes?: boolean;
    dryRun?: boolean;
    limit?: number;
    batchRecords?: number;
    format: 'table' | 'jsonl';
  },
): Promise<void> {
  await withBackend(config, async (b) => {
    const t = await versionOf(b, config, name, o.version);
    const topic = t.deadLetterTopic;
    const sources = new Set([...t.topics.values()].filter((x) => x.role === 'source').map((x) => x.name));
    if (action === 'summary') {
      const dls = await readDeadLetters(b.log, topic, o.reason);
      const rows = summarize(dls);
      process.stdout.write(formatRows(rows, o.format));
      if (o.format === 'table') console.log(`${dls.length} dead letter(s) in ${topic}`);
      return;
    }
    if (action === 'show') {
      const dls = await readDeadLetters(b.log, topic, o.reason);
      const d = new WriterDecoder(b.registry);
      const rows = [];
      for (const dl of o.limit ? dls.slice(0, o.limit) : dls) rows.push(await showDeadLetter(d, dl));
      process.stdout.write(formatRows(rows, o.format));
      return;
    }
    if (!o.yes) {
      const plan = await planRedrive(b.log, await readDeadLetters(b.log, topic, o.reason), sources);
      const d = new WriterDecoder(b.registry);
      const rows = [];
      for (const dl of plan.send) {
        const rec = redriveRecord(dl);
        rows.push({
          dead_letter: dl.coordinates,
          to: `${rec.topic}:${rec.partition}`,
          reason: dl.reason,
          key: (await d.decode(rec.key)).value,
        });
      }
      if (rows.length > 0) process.stdout.write(formatRows(rows, o.format));
      for (const line of describeLateRedrives(await lateRedrives(b.log, t, plan.send))) console.log(line);
      for (const r of plan.refused) console.log(`refused: ${r.deadLetter.coordinates}: ${r.why}`);
      console.log(
        `would re-drive ${plan.send.length} dead letter(s) of ${topic}; ${plan.already.length} already re-driven, ${plan.refused.length} refused. Run again with --yes to send them.`,
      );
      return;
    }
    const plan = await redrive({
      log: b.log,
      topic,
      sourceTopics: sources,
      reason: o.reason,
      batchRecords: o.batchRecords,
      beforeCommit: faultInjection(),
      onPlan: async (p) => {
        for (const line of describeLateRedrives(await lateRedrives(b.log, t, p.send))) console.log(line);
      },
    });
    for (const r of plan.refused) console.log(`refused: ${r.deadLetter.coordinates}: ${r.why}`);
    const to = [...new Set(plan.send.map((dl) => dl.source!.topic))].join(', ');
    console.log(
      `re-drove ${plan.send.length} dead letter(s) of ${topic}${to ? ` to ${to}` : ''} (header eddy.redrive.of; recorded in eddy.meta.redrive); ${plan.already.length} already re-driven, ${plan.refused.length} refused`,
    );
  });
}

/**
 * Fault injection for the interrupted-redrive test: `EDDY_FAULT_REDRIVE_KILL_BEFORE_COMMIT=<n>` kills this process
 * with SIGKILL inside transaction n (from 0), after its records were sent and before its commit, as a crash would.
 */
function faultInjection(): ((batchIndex: number) => void) | undefined {
  const at = process.env.EDDY_FAULT_REDRIVE_KILL_BEFORE_COMMIT;
  if (at === undefined) return undefined;
  return (i) => {
    if (i === Number(at)) process.kill(process.pid, 'SIGKILL');
  };
}
