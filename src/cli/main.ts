#!/usr/bin/env node
/**
 * `eddy`: the command line. Thin: parses and validates arguments (commander), calls the layers below, prints.
 * Every error is one line naming the thing and the fix, with a non-zero exit code; bad arguments stop before any
 * write.
 */
import { rmSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { EddyError } from '../errors.js';
import { cmdDemo, cmdDescribe, cmdInspect, cmdLoad, cmdRun, cmdTopics } from './commands.js';
import { dataPaths } from './env.js';
import { FORMATS } from './format.js';

function positiveInt(what: string) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer, got "${raw}"`);
    return n;
  };
}

const program = new Command()
  .name('eddy')
  .description('A Kappa-style, event-sourced stream processor for TypeScript')
  .option('--data-dir <dir>', 'where the embedded log and state stores live (env EDDY_DATA_DIR)', '.eddy')
  .showHelpAfterError('(run eddy --help for usage)')
  .exitOverride();

const paths = () => dataPaths(program.opts<{ dataDir: string }>().dataDir);

program
  .command('load')
  .description('load the flight-delays example data: flights-3m.parquet -> topic flights, airports.csv -> compacted topic airports')
  .option('--limit <n>', 'load only the first N flights', positiveInt('--limit'))
  .option('--partitions <n>', 'partitions of topic flights', positiveInt('--partitions'), 4)
  .option('--flights <file>', 'flights parquet file (default: vega-datasets flights-3m.parquet)')
  .option('--airports <file>', 'airports CSV file (default: vega-datasets airports.csv)')
  .option('--no-progress', 'no progress bar')
  .action(async (o) => cmdLoad(paths(), o));

program
  .command('run')
  .description('run a topology: process its inputs exactly once into its versioned outputs and state stores')
  .argument('<topology>', 'topology name (see eddy describe)')
  .option('--until-idle', 'stop when every input is consumed (batch mode) instead of running until SIGINT/SIGTERM')
  .option('--max-batch-records <n>', 'records per batch and transaction', positiveInt('--max-batch-records'), 5000)
  .option('--no-progress', 'no progress bar')
  .action(async (name, o) => cmdRun(paths(), name, o));

program
  .command('topics')
  .description('list topics with partitions and offsets')
  .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('table'))
  .action(async (o) => cmdTopics(paths(), o));

program
  .command('inspect')
  .description("dump a state store's committed contents")
  .argument('<store>', 'store name, e.g. delays_by_airport_hour')
  .option('--topology <name>', 'topology that owns the store (default: search all)')
  .option('--key <key>', 'only this key')
  .option('--limit <n>', 'at most N rows', positiveInt('--limit'))
  .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('table'))
  .action(async (store, o) => cmdInspect(paths(), store, o));

program
  .command('describe')
  .description('print a topology graph as text and as a Mermaid flowchart')
  .argument('<topology>', 'topology name')
  .addOption(new Option('--format <format>', 'text, mermaid or both').choices(['text', 'mermaid', 'both']).default('both'))
  .action(async (name, o) => cmdDescribe(name, o));

program
  .command('demo')
  .description('load the example data (if not loaded), run flight-delays until idle, print the worst airport-hours')
  .option('--fresh', 'delete the data directory first')
  .option('--limit <n>', 'load only the first N flights', positiveInt('--limit'))
  .option('--min-flights <n>', 'only airport-hours with at least N flights in the ranking', positiveInt('--min-flights'), 1)
  .option('--no-progress', 'no progress bars')
  .action(async (o) => {
    if (o.fresh) rmSync(paths().dataDir, { recursive: true, force: true });
    await cmdDemo(paths(), o);
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof Error && 'code' in err && String((err as { code: unknown }).code).startsWith('commander.')) {
    const code = (err as { exitCode?: number }).exitCode ?? 2;
    process.exit(code === 0 ? 0 : 2);
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
