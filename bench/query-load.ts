/**
 * Queries must not starve processing (`http.maxConcurrentQueries`, `http.maxQueuedQueries`): a worker's records/s
 * over the same input with and without a storm of concurrent heavy `GET /sql` queries, ratio in one run, alternating.
 * Usage: `node dist/bench/query-load.js [--limit 300000] [--concurrency 500] [--rounds 2]` (embedded log; the worker is
 * the built CLI in a child process, the queries come from this process over loopback and stop with the run).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { EmbeddedLog } from '../src/log/embedded/index.js';

const { values } = parseArgs({
  options: {
    limit: { type: 'string', default: '300000' },
    concurrency: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '2' },
  },
});
const LIMIT = Number(values.limit);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const CLI = join(import.meta.dirname, '..', 'src', 'cli', 'main.js');
const HEAVY =
  'SELECT airport, count(*) AS hours, avg(avg_delay) AS d, max(max_delay) AS m FROM delays_by_airport_hour GROUP BY airport ORDER BY d DESC';

const base = mkdtempSync(join(tmpdir(), 'eddy-query-load-'));
const loaded = join(base, 'loaded');
const load = spawnSync(process.execPath, [
  CLI,
  '--data-dir',
  loaded,
  'load',
  '--limit',
  String(LIMIT),
  '--no-progress',
]);
if (load.status !== 0) throw new Error(`load failed: ${load.stderr}`);

/** Starts a worker on a fresh copy of the loaded log; resolves with its HTTP base URL once it logged `start`. */
function startWorker(dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  cpSync(loaded, dataDir, { recursive: true });
  const child = spawn(process.execPath, [CLI, '--data-dir', dataDir, 'worker', 'flight-delays'], {
    env: { ...process.env, EDDY_HTTP_PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /"event":"start".*?"url":"([^"]+)"/.exec(buf);
      if (m) resolve({ child, url: m[1] });
    });
  });
}

/** Flights the worker committed so far: the version's committed offsets, read from the embedded log itself. */
async function committed(log: EmbeddedLog): Promise<number> {
  let n = 0;
  for (const c of (await log.committedOffsets('flight-delays.v1', 'flights')).values()) n += c.offset;
  return n;
}

/** Runs one worker over the input; with `storm`, keeps `CONCURRENCY` heavy queries in flight until it is done. */
async function measure(
  storm: boolean,
  round: number,
): Promise<{ recordsPerSecond: number; answers: Record<string, number> }> {
  const dataDir = join(base, `r${round}-${storm ? 'storm' : 'quiet'}`);
  const { child, url } = await startWorker(dataDir);
  const log = EmbeddedLog.open(join(dataDir, 'log.db'));
  const answers: Record<string, number> = {};
  let done = false;
  const client = async () => {
    while (!done) {
      try {
        const r = await fetch(`${url}/sql?q=${encodeURIComponent(HEAVY)}`);
        answers[r.status] = (answers[r.status] ?? 0) + 1;
        await r.arrayBuffer();
        if (r.status === 429)
          await new Promise((res) => setTimeout(res, 1_000 * Number(r.headers.get('retry-after') ?? 1)));
      } catch {
        answers.error = (answers.error ?? 0) + 1;
      }
    }
  };
  const clients = storm ? Array.from({ length: CONCURRENCY }, client) : [];
  let first = 0;
  let startedMs = 0;
  for (;;) {
    const n = await committed(log);
    if (n > 0 && first === 0) {
      first = n;
      startedMs = performance.now();
    }
    if (n >= LIMIT) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const seconds = (performance.now() - startedMs) / 1000;
  done = true;
  await Promise.all(clients);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await log.close();
  return { recordsPerSecond: Math.round((LIMIT - first) / seconds), answers };
}

const rows: { round: number; quiet: number; storm: number; ratio: number; answers: Record<string, number> }[] = [];
for (let round = 0; round < ROUNDS; round++) {
  // alternate which goes first
  const a = await measure(round % 2 === 1, round);
  const b = await measure(round % 2 === 0, round);
  const [quiet, storm] = round % 2 === 1 ? [b, a] : [a, b];
  rows.push({
    round,
    quiet: quiet.recordsPerSecond,
    storm: storm.recordsPerSecond,
    ratio: Number((storm.recordsPerSecond / quiet.recordsPerSecond).toFixed(2)),
    answers: storm.answers,
  });
  console.log(JSON.stringify(rows[rows.length - 1]));
}
rmSync(base, { recursive: true, force: true });
