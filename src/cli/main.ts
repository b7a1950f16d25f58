#!/usr/bin/env node
/**
 * `eddy`: the command line. Thin: parses arguments (commander), loads and validates the configuration
 * (defaults < eddy.config.json or --config < environment < flags; see src/config), calls the layers below, prints.
 * Every error is one line naming the thing and the fix, with a non-zero exit code (2 for bad arguments and
 * configuration, 1 otherwise); bad arguments and configuration stop before anything is opened or written.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigValidationError, configLeaves, LOG_LEVELS, type LoadedConfig, loadConfig } from '../config/index.js';
import { ConfigError, EddyError } from '../errors.js';
import { packageRoot } from '../util/paths.js';
import { cmdConfig, cmdDemo, cmdDescribe, cmdInspect, cmdLoad, cmdRun, cmdTopics, cmdWorker } from './commands.js';
import { registerDataCommands } from './data.js';
import { isoTime, registerDebugCommands } from './debug.js';
import { FORMATS } from './format.js';
import { initProject } from './init.js';
import { registerRunsSqlCommands } from './runs-sql.js';
import { registerSchemaCommands } from './schemas.js';
import { loadTopology } from './topologies.js';
import { registerVersionCommands } from './versions.js';

function positiveInt(what: string) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidArgumentError(`${what} must be a positive integer, got "${raw}"`);
    return n;
  };
}

function nonNegative(what: string) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${what} must be an integer >= 0, got "${raw}"`);
    return n;
  };
}

/** eddy's version, from its package.json. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(import.meta.url), 'package.json'), 'utf8')) as { version: string })
    .version;
}

const program = new Command()
  .name('eddy')
  .description('A Kappa-style, event-sourced stream processor for TypeScript')
  .option('--config <file>', 'configuration file (default: eddy.config.json in the working directory, if present)')
  .option('--data-dir <dir>', 'where the embedded log and state stores live (default .eddy; env EDDY_DATA_DIR)')
  .option('--backend <backend>', 'embedded or kafka (default embedded; env EDDY_BACKEND)')
  .option('--log-level <level>', `${LOG_LEVELS.join(', ')} (default info; env EDDY_LOG_LEVEL)`)
  .addHelpText('after', "\n`eddy --version` (or -V) prints eddy's version.")
  .showHelpAfterError('(run eddy --help for usage)')
  .exitOverride();

const camel = (flag: string) => flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** The configuration: defaults < config file < environment < the flags given to `cmd` and to eddy itself. */
function config(cmd: Command): LoadedConfig {
  const given = { ...program.opts(), ...cmd.opts() } as Record<string, string | number | undefined>;
  const flags: Record<string, string | number | undefined> = {};
  for (const leaf of configLeaves()) {
    const flag = leaf.schema['x-flag'];
    if (flag !== undefined) flags[flag] = given[camel(flag)];
  }
  return loadConfig({ configFile: program.opts<{ config?: string }>().config, flags });
}

program
  .command('load')
  .description(
    'load the flight-delays example data: flights-3m.parquet -> topic flights, airports.csv -> compacted topic airports',
  )
  .option('--limit <n>', 'load only the first N flights', positiveInt('--limit'))
  .option('--partitions <n>', 'partitions of topic flights', positiveInt('--partitions'), 4)
  .option('--flights <file>', 'flights parquet file (default: vega-datasets flights-3m.parquet)')
  .option('--airports <file>', 'airports CSV file (default: vega-datasets airports.csv)')
  .option('--skip <n>', 'skip the first N flights of the file (load a later slice)', nonNegative('--skip'))
  .option(
    '--flight-schema <n>',
    'write flights with Flight schema version 1 or 2 (2 adds source_row)',
    positiveInt('--flight-schema'),
  )
  .option('--no-progress', 'no progress bar')
  .action(async (o, cmd: Command) => cmdLoad(config(cmd).config, o));

program
  .command('run')
  .description('run a topology: process its inputs exactly once into its versioned outputs and state stores')
  .argument('<topology>', 'topology name (see eddy describe)')
  .option(
    '--version <n>',
    'run only this version (default: every version not retired: the live one and those replaying beside it, one read of the inputs for all; a topology that never ran: its lowest version)',
    positiveInt('--version'),
  )
  .option('--until-idle', 'stop when every input is consumed (batch mode) instead of running until SIGINT/SIGTERM')
  .option('--max-batch-records <n>', 'records per batch and transaction (default 5000; worker.maxBatchRecords)')
  .option(
    '--processing-guarantee <guarantee>',
    'exactly-once or at-least-once (default exactly-once; env EDDY_PROCESSING_GUARANTEE)',
  )
  .option('--no-progress', 'no progress bar')
  .option(
    '--dry-run',
    'process a slice of the input against a scratch copy of the state; write nothing, print what would be written',
  )
  .option(
    '--limit <n>',
    'with --dry-run: at most N input records, spread over the input partitions (default 1000)',
    positiveInt('--limit'),
  )
  .option(
    '--from <time>',
    'with --dry-run: start at this ISO time instead of the committed positions',
    isoTime('--from'),
  )
  .action(async (name, o, cmd: Command) => cmdRun(config(cmd).config, name, o));

program
  .command('worker')
  .description(
    'run a topology as a service until SIGTERM/SIGINT, with /health, /ready, /metrics and /stores over HTTP and JSON logs',
  )
  .argument('<topology>', 'topology name (see eddy describe)')
  .option(
    '--http-port <port>',
    'HTTP port; 0 = any free port, logged in the start line (default 9464; env EDDY_HTTP_PORT)',
  )
  .option('--http-host <host>', 'HTTP address to listen on (default 127.0.0.1)')
  .option(
    '--version <n>',
    'run only this version (default: every version not retired, one read of the inputs)',
    positiveInt('--version'),
  )
  .option('--shutdown-timeout-ms <ms>', 'bound on a graceful shutdown; past it the exit code is 1 (default 30000)')
  .option('--max-batch-records <n>', 'records per batch and transaction (default 5000)')
  .option(
    '--processing-guarantee <guarantee>',
    'exactly-once or at-least-once (default exactly-once; env EDDY_PROCESSING_GUARANTEE)',
  )
  .action(async (name, o, cmd: Command) => {
    const loaded = config(cmd);
    process.exit(await cmdWorker(loaded, name, { version: o.version }));
  });

program
  .command('config')
  .description(
    'print the effective configuration (secrets hidden) and where each key came from; --docs: the reference table',
  )
  .option('--docs', 'print the configuration reference as a Markdown table')
  .action(async (o, cmd: Command) => cmdConfig(config(cmd), o));

program
  .command('topics')
  .description('list topics with partitions and offsets')
  .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('table'))
  .action(async (o, cmd: Command) => cmdTopics(config(cmd).config, o));

program
  .command('inspect')
  .description("dump a state store's committed contents")
  .argument('<store>', 'store name, e.g. delays_by_airport_hour')
  .option('--topology <name>', 'topology that owns the store (default: search all)')
  .option('--version <n>', 'version of the topology (default: the live version)', positiveInt('--version'))
  .option('--key <key>', 'only this key')
  .option('--limit <n>', 'at most N rows', positiveInt('--limit'))
  .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('table'))
  .action(async (store, o, cmd: Command) => cmdInspect(config(cmd).config, store, o));

program
  .command('describe')
  .description('print a topology graph as text and as a Mermaid flowchart')
  .argument('<topology>', 'topology name')
  .option('--version <n>', 'version of the topology in the code (default: the highest)', positiveInt('--version'))
  .addOption(
    new Option('--format <format>', 'text, mermaid or both').choices(['text', 'mermaid', 'both']).default('both'),
  )
  .action(async (name, o, cmd: Command) => cmdDescribe(config(cmd).config, name, o));

program
  .command('demo')
  .description('load the example data (if not loaded), run flight-delays until idle, print the worst airport-hours')
  .option('--fresh', 'delete the data directory first')
  .option('--limit <n>', 'load only the first N flights', positiveInt('--limit'))
  .option(
    '--min-flights <n>',
    'only airport-hours with at least N flights in the ranking',
    positiveInt('--min-flights'),
    1,
  )
  .option('--no-progress', 'no progress bars')
  .action(async (o, cmd: Command) => {
    const c = config(cmd).config;
    if (o.fresh) rmSync(c.dataDir, { recursive: true, force: true });
    await cmdDemo(c, o);
  });

program
  .command('init')
  .description(
    'create a project of your own: package.json depending on eddy, eddy.config.json, schemas, a topology, tests with a golden case, a CSV',
  )
  .argument('<dir>', 'the new project directory (created; must be empty if it exists)')
  .option('--name <topology>', "topology name (default: the directory's name)")
  .option('--eddy <spec>', 'how package.json depends on eddy (default: file:<this eddy package>)')
  .action((dir: string, o: { name?: string; eddy?: string }) => {
    const files = initProject(dir, o);
    process.stdout.write(
      `created ${files.length} files in ${dir}\nnext:\n  cd ${dir}\n  npm install\n  npm test\n  npx eddy produce page-views --file data/page-views.csv --key-field user --timestamp-field time --value-schema PageView --partitions 1\n  npx eddy run ${JSON.parse(readFileSync(files[0], 'utf8')).name} --until-idle\n`,
    );
  });

registerVersionCommands(program, config);
registerSchemaCommands(program, config);
registerDebugCommands(program, config);
registerDataCommands(program, config);

// A topology named by a command (its <topology> argument, --topology, --dlq) must be known and its module must load:
// checked before the command opens anything; an unknown name, a module that cannot be loaded, or a `--version` the
// code does not define is bad configuration or a bad argument, exit code 2 (as every bad argument).
program.hook('preAction', async (_program, action) => {
  const names: string[] = [];
  action.registeredArguments.forEach((a, i) => {
    if (a.name() === 'topology' && typeof action.processedArgs[i] === 'string') names.push(action.processedArgs[i]);
  });
  const opts = action.opts<{ topology?: unknown; dlq?: unknown; version?: unknown }>();
  for (const n of [opts.topology, opts.dlq]) if (typeof n === 'string') names.push(n);
  if (names.length === 0) return;
  const { topologies } = config(action).config;
  // `--version N` names a version of that topology in the code (one the code does not define is a bad argument too)
  const version = names.length === 1 && typeof opts.version === 'number' ? opts.version : undefined;
  for (const name of names) {
    try {
      await loadTopology(name, topologies, version);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      process.stderr.write(`eddy: ${err.message}\n`);
      process.exit(2);
    }
  }
});
registerRunsSqlCommands(program, config);

// `eddy inspect ... | head`: the reader closed the pipe; stop quietly instead of crashing on EPIPE.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

// `eddy --version` as the first argument only: subcommands have their own `--version <n>` (a topology version), and
// commander would take a program-level --version option anywhere on the line.
if (process.argv[2] === '--version' || process.argv[2] === '-V') {
  process.stdout.write(`${packageVersion()}\n`);
  process.exit(0);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof Error && 'code' in err && String((err as { code: unknown }).code).startsWith('commander.')) {
    const code = (err as { exitCode?: number }).exitCode ?? 2;
    process.exit(code === 0 ? 0 : 2);
  }
  if (err instanceof ConfigValidationError) {
    for (const line of err.lines) process.stderr.write(`eddy: ${line}\n`);
    process.exit(2);
  }
  if (err instanceof EddyError) {
    process.stderr.write(`eddy: ${err.message}\n`);
    if (process.env.EDDY_DEBUG) process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  }
  process.stderr.write(`eddy: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
  if (err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
}
