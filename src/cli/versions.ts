/**
 * The versions commands: `eddy versions`, `promote`, `retire`, `diff` (and `replay`, in replay.ts). src/replay does
 * the work; this file parses, opens the backend, and prints.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { EddyConfig, LoadedConfig } from '../config/index.js';
import { type DiffResult, diffVersions } from '../replay/diff.js';
import { DEFAULT_MAX_LAG_RECORDS, promote } from '../replay/promote.js';
import { readVersions } from '../replay/registry.js';
import { describePlan, describeRuns, RETIRE_WAIT_MS, retire } from '../replay/retire.js';
import { versionStatuses } from '../replay/status.js';
import type { Topology } from '../topology/graph.js';
import { withBackend } from './env.js';
import { formatRows, out } from './format.js';
import { cmdReplay, type ReplayFlags } from './replay.js';
import { knownTopologies, loadTopology, loadVersions } from './topologies.js';

type ConfigOf = (cmd: Command) => LoadedConfig;

function nonNegativeInt(what: string, min = 0) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`${what} must be an integer >= ${min}, got "${raw}"`);
    return n;
  };
}

/** Adds `versions`, `replay`, `promote`, `retire` and `diff` to the program. `config` loads the configuration. */
export function registerVersionCommands(program: Command, config: ConfigOf): void {
  program
    .command('versions')
    .description(
      'list the versions of a topology: state (replaying, caught-up, live, superseded, retired), fingerprint, records in/out, lag per input partition, records/s and ETA while replaying, which is live',
    )
    .argument('<topology>', 'topology name')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (name: string, o: { format: 'table' | 'json' }, cmd: Command) =>
      cmdVersions(config(cmd).config, name, o),
    );

  program
    .command('replay')
    .description(
      "run a version of a topology from the start of its inputs (or --from a time) into its own outputs, until it reaches the inputs' end",
    )
    .argument('<topology>', 'topology name')
    .requiredOption('--version <n>', 'the version to replay', nonNegativeInt('--version', 1))
    .option('--from <time>', 'start at the first input records at or after this ISO-8601 time instead of the start')
    .option(
      '--reset',
      'delete the outputs, changelogs, repartition and dead-letter topics, group offsets and state of the version first (prints them)',
    )
    .option(
      '--allow-truncated-input',
      'replay even if records of an input were deleted (retention) before this version read them',
    )
    .option('--max-batch-records <n>', 'records per batch and transaction (default 5000; worker.maxBatchRecords)')
    .option('--no-progress', 'no progress bar')
    .action(async (name: string, o: ReplayFlags, cmd: Command) => cmdReplay(config(cmd).config, name, o));

  program
    .command('promote')
    .description(
      'make a caught-up version the live one (the version readers follow); the version live before becomes superseded',
    )
    .argument('<topology>', 'topology name')
    .argument('<version>', 'version to promote', nonNegativeInt('version', 1))
    .option(
      '--max-lag-records <n>',
      `largest lag per input partition that counts as caught up (default ${DEFAULT_MAX_LAG_RECORDS})`,
      nonNegativeInt('--max-lag-records'),
    )
    .action(async (name: string, version: number, o: { maxLagRecords?: number }, cmd: Command) =>
      cmdPromote(config(cmd).config, name, version, o),
    );

  program
    .command('retire')
    .description(
      'record a version retired, wait until no process runs it, then delete it (topics, consumer group, state, internal subjects); without --yes, print what it would delete',
    )
    .argument('<topology>', 'topology name')
    .argument('<version>', 'version to retire', nonNegativeInt('version', 1))
    .option('--yes', 'retire and delete (without it, only print what would be deleted)')
    .option(
      '--wait-ms <ms>',
      `how long to wait for the processes running the version to stop running it (default ${RETIRE_WAIT_MS})`,
      nonNegativeInt('--wait-ms'),
    )
    .action(async (name: string, version: number, o: { yes?: boolean; waitMs?: number }, cmd: Command) =>
      cmdRetire(config(cmd).config, name, version, o),
    );

  program
    .command('diff')
    .description(
      'compare a store or output of two versions: keys only in A, only in B, equal, different, and a sample of differing keys',
    )
    .argument('<topology>', 'topology name')
    .argument('<what>', 'a store name, or an output name without .v<N>')
    .argument('<a>', 'version A', nonNegativeInt('A', 1))
    .argument('<b>', 'version B', nonNegativeInt('B', 1))
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('--sample <n>', 'differing keys to show', nonNegativeInt('--sample'), 10)
    .option('--fields <list>', 'compare only these comma-separated fields of the values')
    .action(async (name: string, what: string, a: number, b: number, o: DiffFlags, cmd: Command) =>
      cmdDiff(config(cmd).config, name, what, a, b, o),
    );
}

/** `eddy versions <topology>`. */
async function cmdVersions(config: EddyConfig, name: string, o: { format: 'table' | 'json' }): Promise<void> {
  const versions = await loadVersions(name, config.topologies);
  await withBackend(config, async (b) => {
    const snap = await readVersions(b.log);
    const rows = await versionStatuses(b.log, snap, versions[0].name, versions, {
      processingGuarantee: config.worker.processingGuarantee,
    });
    if (o.format === 'json') {
      out(JSON.stringify(rows, null, 2));
      return;
    }
    process.stdout.write(
      formatRows(
        rows.map((r) => ({
          version: r.version,
          state: r.state ?? '(never ran)',
          live: r.live ? 'live' : '',
          fingerprint: `${r.fingerprint}${r.matchesCode === false ? ' (code differs)' : ''}${r.inCode ? '' : ' (not in code)'}`,
          records_in: r.recordsIn,
          records_out: r.recordsOut,
          lag: r.lag.map((l) => `${l.topic}:${l.partition}=${l.lagRecords}`).join(' '),
          'records/s': r.recordsPerSecond === null ? '-' : Math.round(r.recordsPerSecond),
          eta: r.etaMs === null ? '-' : formatEta(r.etaMs),
        })),
        'table',
      ),
    );
  });
}

/** `ms` as `1h02m`, `3m05s` or `12s`. */
function formatEta(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (h > 0) return `${h}h${pad(m)}m`;
  if (m > 0) return `${m}m${pad(s % 60)}s`;
  return `${s}s`;
}

/** `eddy promote <topology> N`. */
async function cmdPromote(
  config: EddyConfig,
  name: string,
  version: number,
  o: { maxLagRecords?: number },
): Promise<void> {
  const t = await loadTopology(name, config.topologies, version);
  const others: Topology[] = [];
  for (const [n, load] of await knownTopologies(config.topologies)) if (n !== name) others.push(...(await load()));
  await withBackend(config, async (b) => {
    const r = await promote(b.log, t, {
      processingGuarantee: config.worker.processingGuarantee,
      maxLagRecords: o.maxLagRecords,
      others,
    });
    out(
      `${t.name} version ${version} is live${r.previousLive !== undefined ? ` (was version ${r.previousLive})` : ''}.`,
    );
    out(
      `Readers follow it: eddy inspect, /stores on the worker and the read helpers resolve version ${version} unless a version is named.`,
    );
    if (r.previousLive !== undefined) {
      out(`Version ${r.previousLive} is superseded: the workers running it go on running it until it is retired.`);
      out(
        `Topologies reading version ${r.previousLive}'s outputs keep following version ${r.previousLive} until they are replayed on version ${version}'s outputs (a new downstream version): ${
          r.followers.map((f) => `${f.topology} v${f.version} reads ${f.topic}`).join(', ') || 'none known'
        }.`,
      );
      out(`When nothing reads it any more: eddy retire ${name} ${r.previousLive}`);
    }
    for (const w of r.warnings) process.stderr.write(`eddy: ${w}\n`);
  });
}

/** `eddy retire <topology> N [--yes] [--wait-ms ms]`. */
async function cmdRetire(
  config: EddyConfig,
  name: string,
  version: number,
  o: { yes?: boolean; waitMs?: number },
): Promise<void> {
  const versions = await loadVersions(name, config.topologies);
  const t = versions.find((v) => v.version === version);
  const topology = versions[0].name;
  await withBackend(config, async (b) => {
    const r = await retire(b.log, b.registry, {
      topology,
      version,
      t,
      stateDir: b.paths.stateDir,
      yes: o.yes === true,
      waitMs: o.waitMs,
      onWaiting: (runs) => {
        out(
          `${topology} version ${version} is recorded retired; waiting for ${runs.length} process(es) to stop running it:`,
        );
        for (const line of describeRuns(runs)) out(`  ${line}`);
      },
    });
    if (!o.yes) {
      out(`${topology} version ${version}: would delete (run again with --yes to delete):`);
      for (const line of describePlan(r.plan, { subjects: true })) out(`  ${line}`);
      if (r.openRuns.length > 0) {
        out(`  running in (stopped first: they stop running it, other versions go on from their committed positions):`);
        for (const line of describeRuns(r.openRuns)) out(`    ${line}`);
      }
      return;
    }
    out(
      `${topology} version ${version}: ${r.wasRetired ? 'was retired already; finishing its deletion: ' : ''}deleted:`,
    );
    for (const line of describePlan(r.plan, { subjects: true })) out(`  ${line}`);
    if (!r.subjectsDeleted && r.plan.subjects.length > 0)
      out('  (the schema registry offers no delete: the subjects stay; they are harmless)');
    out(`${topology} version ${version} is retired.`);
    if (r.liveUnserved !== undefined) process.stderr.write(`eddy: ${r.liveUnserved}\n`);
  });
}

interface DiffFlags {
  format: 'table' | 'json';
  sample: number;
  fields?: string;
}

/** `eddy diff <topology> <store|output> A B`. */
async function cmdDiff(
  config: EddyConfig,
  name: string,
  what: string,
  a: number,
  b: number,
  o: DiffFlags,
): Promise<void> {
  const ta = await loadTopology(name, config.topologies, a);
  const tb = await loadTopology(name, config.topologies, b);
  const fields =
    o.fields === undefined
      ? undefined
      : o.fields
          .split(',')
          .map((f) => f.trim())
          .filter((f) => f.length > 0);
  await withBackend(config, async (be) => {
    const r = await diffVersions({
      log: be.log,
      registry: be.registry,
      stateDir: be.paths.stateDir,
      a: ta,
      b: tb,
      what,
      sample: o.sample,
      fields,
    });
    if (o.format === 'json') out(JSON.stringify(r, null, 2));
    else printDiff(r);
  });
}

function printDiff(r: DiffResult): void {
  out(
    `${r.kind} ${r.name}: version ${r.versionA} (${r.keysA} keys) vs version ${r.versionB} (${r.keysB} keys)${r.fields ? `, fields ${r.fields.join(', ')}` : ''}`,
  );
  process.stdout.write(
    formatRows([{ only_in_a: r.onlyA, only_in_b: r.onlyB, equal: r.equal, different: r.different }], 'table'),
  );
  if (r.sample.length === 0) return;
  out(`differing keys (${r.sample.length} of ${r.different}):`);
  process.stdout.write(
    formatRows(
      r.sample.map((s) => ({
        key: s.key,
        ...(s.windowStart ? { window_start: s.windowStart } : {}),
        [`v${r.versionA}`]: s.a,
        [`v${r.versionB}`]: s.b,
      })),
      'table',
    ),
  );
}
