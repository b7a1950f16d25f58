/**
 * `npm run bench [-- --limit N]`: the flight-delays benchmark on the embedded log (`-- --backend kafka`: on Kafka,
 * see bench/kafka.ts). Each phase runs in its own
 * process (bench/phase.ts) so its peak RSS is its own. Reports, as a Markdown table for BENCHMARKS.md:
 *  - load: flights/s writing the 3M flights (parquet -> Avro -> log);
 *  - raw: embedded-log read + append of the same records, no processing (the baseline);
 *  - pipeline: flight-delays v1 end to end, records/s, and its ratio to the raw baseline from the same run;
 *  - write cache: changelog records with 5,000-record batches vs 1-record batches (no coalescing) on a subset;
 *  - versions: replaying flight-delays v2 beside v1 vs v1's first run; v1 and v2 in one runner (shared read) vs one
 *    version alone; `eddy diff` of the two versions' stores. `-- --versions-only` runs just this part; each of its
 *    timed phases runs `-- --runs N` times (default 2) on fresh copies and the fastest counts.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const backendArg = args.indexOf('--backend');
if (backendArg >= 0 && args[backendArg + 1] === 'kafka') {
  execFileSync(
    process.execPath,
    [join(here, 'kafka.js'), ...args.filter((_, i) => i !== backendArg && i !== backendArg + 1)],
    { stdio: 'inherit' },
  );
  process.exit(0);
}
const limitArg = args.indexOf('--limit');
const limit = limitArg >= 0 ? Number(args[limitArg + 1]) : undefined;

interface PhaseResult {
  records: number;
  ms: number;
  /** CPU time (user + system) of the phase's process, ms. */
  cpuMs: number;
  maxRssBytes: number;
  commits?: number;
  changelogRecords?: Record<string, number>;
}

function phase(name: string, dir: string, arg?: string): PhaseResult {
  const out = execFileSync(process.execPath, [join(here, 'phase.js'), name, dir, ...(arg ? [arg] : [])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = out.trim().split('\n').pop()!;
  const r = JSON.parse(line);
  process.stderr.write(`${name}: ${line}\n`);
  return r;
}

const mb = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
const rate = (r: { records: number; ms: number }) => Math.round(r.records / (r.ms / 1000));
/** Records per CPU-second: what a phase costs, whatever else the machine was running. */
const cpuRate = (r: { records: number; cpuMs: number }) => Math.round(r.records / (r.cpuMs / 1000));

const versionsOnly = args.includes('--versions-only');
const runsArg = args.indexOf('--runs');
/** Runs of each versions phase (the fastest counts); default 2. */
const runs = runsArg >= 0 ? Math.max(1, Number(args[runsArg + 1])) : 2;

/**
 * Replay, shared read and diff. `dir` holds the loaded flights and v1's first run (`first`). Returns Markdown lines:
 * v2 replayed beside v1 (one runner, v1 caught up: v2 catches up with its own reads) against v2's first run alone on a
 * fresh copy; v1 and v2 from the start in one runner (shared read) against each version alone; both again with one
 * thread per version (`ThreadedRunner`, what a worker runs); eddy diff.
 */
function versionsPart(dir: string, firstRun: PhaseResult): string[] {
  type Shared = PhaseResult & { fetched: { sharedInputRecords: number; catchUpRecords: number } };
  // Each timed phase runs `runs` times on its own fresh copy and keeps the fastest (wall): on a shared machine a
  // single run can be off by a quarter either way.
  const fastest = <T extends PhaseResult>(xs: T[]): T => xs.reduce((a, b) => (b.ms < a.ms ? b : a));
  const temp = (name: string) => mkdtempSync(join(tmpdir(), `eddy-bench-${name}-`));
  const made: string[] = [];
  const loaded = (name: string) => {
    const d = temp(name);
    made.push(d);
    phase('load', d, limit ? String(limit) : undefined);
    return d;
  };
  try {
    const copyOf = (name: string) => {
      const d = temp(name);
      made.push(d);
      cpSync(dir, d, { recursive: true });
      return d;
    };
    const copies = Array.from({ length: runs - 1 }, () => copyOf('beside'));
    const threadCopies = Array.from({ length: runs }, () => copyOf('beside-threads'));
    // v2's first run on a log that already holds v1's run (what a replay writes into), without v1 beside it.
    const onV1Log = fastest(Array.from({ length: runs }, () => phase('version', copyOf('v2-on-v1'), '2')));
    const beside = fastest([phase('shared', dir) as Shared, ...copies.map((d) => phase('shared', d) as Shared)]);
    const besideThreads = fastest(threadCopies.map((d) => phase('threads', d) as Shared));
    const diff = phase('diff', dir) as PhaseResult & { diffMs: Record<string, number> } & Record<string, number>;
    const first = fastest([firstRun, ...Array.from({ length: runs - 1 }, () => phase('version', loaded('v1'), '1'))]);
    const second = fastest(Array.from({ length: runs }, () => phase('version', loaded('v2'), '2')));
    const shared = fastest(Array.from({ length: runs }, () => phase('shared', loaded('shared')) as Shared));
    const threads = fastest(Array.from({ length: runs }, () => phase('threads', loaded('threads')) as Shared));
    const perVersion = rate(shared);
    const slower = Math.min(rate(first), rate(second));
    const cpuPerVersion = cpuRate(shared);
    const cpuSlower = Math.min(cpuRate(first), cpuRate(second));
    const row = (r: PhaseResult) => `${(r.ms / 1000).toFixed(1)} s | ${(r.cpuMs / 1000).toFixed(1)} s`;
    return [
      '',
      '| versions | records | wall time | CPU time | records/s (wall) | peak RSS | note |',
      '|---|---:|---:|---:|---:|---:|---|',
      `| v1, first run alone | ${first.records} | ${row(first)} | ${rate(first)} | ${mb(first.maxRssBytes)} | |`,
      `| v2, first run alone | ${second.records} | ${row(second)} | ${rate(second)} | ${mb(second.maxRssBytes)} | v2 does more per record (two more statistics) |`,
      `| v2, first run alone on a log holding v1's run | ${onV1Log.records} | ${row(onV1Log)} | ${rate(onV1Log)} | ${mb(onV1Log.maxRssBytes)} | the log a replay writes into (${(rate(onV1Log) / rate(second)).toFixed(2)}× v2 on a fresh log) |`,
      `| v2 replayed beside a caught-up v1 (one runner) | ${beside.records} | ${row(beside)} | ${rate(beside)} | ${mb(beside.maxRssBytes)} | **${(rate(beside) / rate(second)).toFixed(2)}×** v2's first run (CPU: ${(cpuRate(beside) / cpuRate(second)).toFixed(2)}×); ${(rate(beside) / rate(onV1Log)).toFixed(2)}× v2 alone on the same log (CPU: ${(cpuRate(beside) / cpuRate(onV1Log)).toFixed(2)}×); ${beside.fetched.catchUpRecords} records by catch-up reads |`,
      `| v1 + v2 from the start in one runner (shared read) | ${shared.records} each | ${row(shared)} | ${perVersion} per version | ${mb(shared.maxRssBytes)} | **${(perVersion / slower).toFixed(2)}×** the slower version alone (${(perVersion / rate(first)).toFixed(2)}× v1, ${(perVersion / rate(second)).toFixed(2)}× v2; CPU: ${(cpuPerVersion / cpuSlower).toFixed(2)}×); input fetched ${shared.fetched.sharedInputRecords} times for ${shared.records} records, ${shared.fetched.catchUpRecords} by catch-up reads |`,
      `| v2 replayed beside a caught-up v1, one thread per version (a worker's default) | ${besideThreads.records} | ${row(besideThreads)} | ${rate(besideThreads)} | ${mb(besideThreads.maxRssBytes)} | **${(rate(besideThreads) / rate(second)).toFixed(2)}×** v2's first run; ${besideThreads.fetched.catchUpRecords} records by catch-up reads |`,
      `| v1 + v2 from the start, one thread per version (a worker's default) | ${threads.records} each | ${row(threads)} | ${rate(threads)} per version | ${mb(threads.maxRssBytes)} | **${(rate(threads) / slower).toFixed(2)}×** the slower version alone (${(rate(threads) / rate(first)).toFixed(2)}× v1, ${(rate(threads) / rate(second)).toFixed(2)}× v2); CPU ${(threads.cpuMs / 1000).toFixed(1)} s in all threads; input fetched ${threads.fetched.sharedInputRecords} times for ${threads.records} records, ${threads.fetched.catchUpRecords} by catch-up reads |`,
      '',
      `eddy diff of v1 and v2 (--fields delayed): route_stats ${(diff.diffMs.route_stats / 1000).toFixed(1)} s (${diff['route_stats.different']} keys differ), delays_by_airport_hour ${(diff.diffMs.delays_by_airport_hour / 1000).toFixed(1)} s (${diff['delays_by_airport_hour.different']} windows differ); ${diff.records} keys compared in all.`,
    ];
  } finally {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  }
}

if (versionsOnly) {
  const vdir = mkdtempSync(join(tmpdir(), 'eddy-bench-versions-'));
  try {
    phase('load', vdir, limit ? String(limit) : undefined);
    const first = phase('version', vdir, '1');
    const machine = `Machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, ${mb(totalmem())} RAM, Node ${process.version}. Date: ${new Date().toISOString().slice(0, 10)}.`;
    console.log([machine, ...versionsPart(vdir, first)].join('\n'));
  } finally {
    rmSync(vdir, { recursive: true, force: true });
  }
  process.exit(0);
}

const dir = mkdtempSync(join(tmpdir(), 'eddy-bench-'));
const small = mkdtempSync(join(tmpdir(), 'eddy-bench-small-'));
try {
  const load = phase('load', dir, limit ? String(limit) : undefined);
  const raw = phase('raw', dir);
  const pipe = phase('pipeline', dir);
  const SUB = 50_000;
  phase('load', small, String(SUB));
  const uncached = phase('pipeline', small, '1');
  const small2 = mkdtempSync(join(tmpdir(), 'eddy-bench-small2-'));
  phase('load', small2, String(SUB));
  const cached = phase('pipeline', small2, '5000');
  rmSync(small2, { recursive: true, force: true });
  const cl = (r: PhaseResult) => Object.values(r.changelogRecords ?? {}).reduce((a, b) => a + b, 0);

  const lines = [
    `Machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, ${mb(totalmem())} RAM, Node ${process.version}. Date: ${new Date().toISOString().slice(0, 10)}.`,
    '',
    '| phase | records | time | records/s | peak RSS | note |',
    '|---|---:|---:|---:|---:|---|',
    `| load (parquet → Avro → embedded log) | ${load.records} | ${(load.ms / 1000).toFixed(1)} s | ${rate(load)} | ${mb(load.maxRssBytes)} | |`,
    `| raw log read + append (baseline) | ${raw.records} | ${(raw.ms / 1000).toFixed(1)} s | ${rate(raw)} | ${mb(raw.maxRssBytes)} | no processing |`,
    `| flight-delays v1 pipeline | ${pipe.records} | ${(pipe.ms / 1000).toFixed(1)} s | ${rate(pipe)} | ${mb(pipe.maxRssBytes)} | ${(rate(pipe) / rate(raw)).toFixed(2)}× the raw baseline; ${pipe.commits} commits |`,
    '',
    `Write cache (${SUB} flights): 1-record batches wrote ${cl(uncached)} changelog records at ${rate(uncached)} records/s; 5,000-record batches wrote ${cl(cached)} at ${rate(cached)} records/s: ${(cl(uncached) / cl(cached)).toFixed(1)}× fewer changelog records, ${(rate(cached) / rate(uncached)).toFixed(1)}× the throughput.`,
  ];
  lines.push(...versionsPart(dir, pipe));
  console.log(lines.join('\n'));
} finally {
  rmSync(dir, { recursive: true, force: true });
  rmSync(small, { recursive: true, force: true });
}
