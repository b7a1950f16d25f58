/**
 * `eddy runs <topology>` (run records, src/runs) and `eddy sql "<query>"` (SQL over stores and topics, src/sql).
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { EddyConfig, LoadedConfig } from '../config/index.js';
import { type ListedRun, readRuns } from '../runs/record.js';
import { sqlPlanFor } from '../sql/catalog.js';
import { SqlSession } from '../sql/session.js';
import { openBackend } from './env.js';
import { FORMATS, type Format, formatRows } from './format.js';
import { knownTopologies, loadVersions } from './topologies.js';

type ConfigOf = (cmd: Command) => LoadedConfig;

function positiveInt(what: string) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`${what} must be a positive integer, got "${raw}"`);
    return n;
  };
}

/** Adds `runs` and `sql` to the program. */
export function registerRunsSqlCommands(program: Command, config: ConfigOf): void {
  program
    .command('runs')
    .description(
      'list the runs of a topology (eddy run, eddy replay, worker lifetimes): version, fingerprint, start, end, exit, records in/out/dead-lettered/late, input positions',
    )
    .argument('<topology>', 'topology name')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (name: string, o: { format: 'table' | 'json' }, cmd: Command) =>
      cmdRuns(config(cmd).config, name, o),
    );

  program
    .command('sql')
    .description(
      'query state stores (and --topic topics) with SQL, read-only: every store of the live version of every topology is a table with typed columns',
    )
    .argument(
      '<query>',
      'one SQL statement, e.g. "SELECT * FROM delays_by_airport_hour ORDER BY avg_delay DESC LIMIT 10"',
    )
    .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('table'))
    .option('--topology <name>', 'only the stores of this topology (default: every topology)')
    .option('--version <n>', 'also expose the stores of version N, as <store>_v<N>', positiveInt('--version'))
    .option(
      '--topic <topic...>',
      'also expose a topic as a table "<topic>": its latest value per key, with partition, offset and timestamp',
    )
    .option('--limit <n>', 'print at most N rows', positiveInt('--limit'))
    .action(async (query: string, o: SqlFlags, cmd: Command) => cmdSql(config(cmd).config, query, o));
}

interface SqlFlags {
  format: Format;
  topology?: string;
  version?: number;
  topic?: string[];
  limit?: number;
}

/** `eddy sql "<query>"`. */
async function cmdSql(config: EddyConfig, query: string, o: SqlFlags): Promise<void> {
  const topologies = [];
  for (const [name] of await knownTopologies(config.topologies))
    topologies.push(await loadVersions(name, config.topologies));
  const b = await openBackend(config);
  let session: SqlSession | undefined;
  try {
    const plan = await sqlPlanFor({
      log: b.log,
      registry: b.registry,
      stateDir: b.paths.stateDir,
      topologies,
      version: o.version,
      topics: o.topic,
    });
    for (const n of plan.notes ?? []) process.stderr.write(`eddy: ${n}\n`);
    session = new SqlSession(plan);
    const r = session.query(query, { maxRows: o.limit });
    process.stdout.write(formatRows(r.rows, o.format));
    if (r.truncated) process.stderr.write(`eddy: showing the first ${o.limit} rows (--limit)\n`);
  } finally {
    session?.close();
    await b.close();
  }
}

const iso = (ms: number | undefined) => (ms === undefined ? '' : new Date(ms).toISOString().replace('.000Z', 'Z'));

function sum(m: Readonly<Record<string, number>>, keep: (k: string) => boolean = () => true): number {
  return Object.entries(m).reduce((n, [k, v]) => (keep(k) ? n + v : n), 0);
}

/** A run record as one table row. */
function runRow(r: ListedRun): Record<string, unknown> {
  const outputs = Object.keys(r.health?.outputs ?? {});
  return {
    run: r.runId,
    kind: r.kind,
    version: r.version,
    fingerprint: r.fingerprint?.slice(0, 12) ?? '',
    started: iso(r.startMs),
    ended: iso(r.endMs),
    exit:
      r.exit?.reason === 'error'
        ? `error ${r.exit.code}`
        : r.exit?.reason === 'signal'
          ? `signal ${r.exit.signal}`
          : r.status,
    in: r.health?.inputRecords ?? sum(r.recordsIn),
    out: sum(r.recordsOut, (t) => outputs.includes(t)),
    dead_letters: sum(r.deadLetters),
    late: sum(r.late),
    redriven_skipped: sum(r.redrivenSkipped ?? {}),
    restored: r.restoredRecords,
    positions_end: Object.entries(r.positionsAtEnd ?? r.positionsAtStart)
      .map(([tp, o]) => `${tp}=${o}`)
      .join(' '),
  };
}

/** `eddy runs <topology>`. */
async function cmdRuns(config: EddyConfig, name: string, o: { format: 'table' | 'json' }): Promise<void> {
  const versions = await loadVersions(name, config.topologies);
  const b = await openBackend(config);
  try {
    const runs = await readRuns(b.log, versions[0].name);
    if (o.format === 'json') process.stdout.write(`${JSON.stringify(runs, null, 2)}\n`);
    else if (runs.length === 0) process.stdout.write(`no runs of ${versions[0].name} recorded in eddy.meta.runs\n`);
    else process.stdout.write(formatRows(runs.map(runRow), 'table'));
  } finally {
    await b.close();
  }
}
