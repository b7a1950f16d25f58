/**
 * Run records: what ran, when, on which input positions, what it produced and rejected, and how it ended. Every
 * `eddy run`, `eddy replay` and worker lifetime appends records to the compacted topic `eddy.meta.runs` (1
 * partition), one per topology version it runs, keyed by a run id. A record is written when the run starts (no
 * `endMs`), rewritten every `RUN_HEARTBEAT_MS` while it runs, and once more when it ends; compaction keeps the last.
 * A record without `endMs` whose process is gone belongs to a process that died without ending its run (SIGKILL, a
 * power cut): `statusOf` says `killed`.
 */
import { hostname } from 'node:os';
import { EddyError } from '../errors.js';
import type { Log } from '../log/contract.js';
import type { DataHealth } from '../runtime/stats.js';
import { META_TOPIC_CONFIG } from '../topology/topic-config.js';

/** The compacted topic of run records. */
export const RUNS_TOPIC = 'eddy.meta.runs';
/** Format of the records' JSON; readers refuse a newer format than they know. */
export const RUNS_FORMAT = 1;
/** How often a running process rewrites its run records (positions and counters so far), ms. */
export const RUN_HEARTBEAT_MS = 30_000;
/** A record without an end, not rewritten for this long, belongs to a killed process, ms. */
export const KILLED_AFTER_MS = 3 * RUN_HEARTBEAT_MS;

/** What started the run. */
export type RunKind = 'run' | 'replay' | 'worker';

/**
 * How a run ended: `idle` (every input consumed, `--until-idle` and replays), `signal` (SIGINT/SIGTERM, graceful),
 * `stopped` (stopped by its caller), `retired` (the version was recorded retired, `eddy retire`, and the process stopped
 * running it), `error` (with the error's code), `killed` (derived when reading: no end was ever
 * written), `running` (derived: no end yet, and the record is fresh).
 */
export type RunExit =
  | { readonly reason: 'idle' | 'stopped' | 'retired' }
  | { readonly reason: 'signal'; readonly signal: string }
  | { readonly reason: 'error'; readonly code: string; readonly message: string };

/** One run of one topology version (the value of key `runId`). */
export interface RunRecord {
  readonly format: number;
  /** `<topology>.v<N>@<start ISO time>#<random>`: unique per run and version. */
  readonly runId: string;
  readonly kind: RunKind;
  readonly topology: string;
  readonly version: number;
  /** The version's fingerprint hash (src/replay/fingerprint.ts), as recorded in the versions registry. */
  readonly fingerprint?: string;
  /** Host name and process id of the process that ran it. */
  readonly host: string;
  readonly pid: number;
  readonly startMs: number;
  /** Unset while running, and forever for a killed run. */
  readonly endMs?: number;
  /** Last time the record was written, ms since epoch. */
  readonly updatedMs: number;
  /** Committed input positions of the version (next offset to read), `<topic>:<partition>` → offset. */
  readonly positionsAtStart: Readonly<Record<string, number>>;
  /** As at start, when the record was last written (at the end, or at the last heartbeat). */
  readonly positionsAtEnd?: Readonly<Record<string, number>>;
  /** Records read per input topic (sources and repartition topics). */
  readonly recordsIn: Readonly<Record<string, number>>;
  /** Records committed per topic (outputs, repartition, changelogs, dead-letter topic). */
  readonly recordsOut: Readonly<Record<string, number>>;
  /** Dead letters per processor that rejected them (their topic is the version's dead-letter topic). */
  readonly deadLetters: Readonly<Record<string, number>>;
  /** Late records (after window end + grace) per window processor. */
  readonly late: Readonly<Record<string, number>>;
  /** Re-driven copies skipped per source topic (their originals were read: src/runtime/redriven.ts); absent in older records. */
  readonly redrivenSkipped?: Readonly<Record<string, number>>;
  /** Changelog records applied to restore stores. */
  readonly restoredRecords: number;
  readonly commits: number;
  readonly aborts: number;
  /** Errors met, the last one ending the run when `exit.reason` is `error`. */
  readonly errors: readonly { readonly code: string; readonly message: string; readonly atMs: number }[];
  /** Per output and dead-letter topic: rate, ratios, null counts (see `DataHealth`). */
  readonly health: DataHealth;
  readonly exit?: RunExit;
}

/** A run record as listed: with the exit derived for runs that never wrote an end. */
export type ListedRun = RunRecord & { readonly status: 'running' | 'killed' | RunExit['reason'] };

/** The topic holds a record in a newer format than this eddy reads. */
export class RunRecordFormatError extends EddyError {
  constructor(runId: string, format: number) {
    super(
      'RUN_RECORD_FORMAT',
      `run record ${runId} in ${RUNS_TOPIC} is in format ${format}; this eddy reads format ${RUNS_FORMAT}: upgrade eddy`,
      { details: { runId, format } },
    );
  }
}

/** Creates the run records topic if missing (1 partition, compacted, no time retention). */
export async function ensureRunsTopic(log: Log): Promise<void> {
  await log.createTopics([{ name: RUNS_TOPIC, partitions: 1, compacted: true, config: META_TOPIC_CONFIG }]);
}

/** Appends (or replaces, by key) one run record. */
export async function writeRunRecord(log: Log, rec: RunRecord): Promise<void> {
  const producer = log.producer();
  try {
    await producer.send([
      {
        topic: RUNS_TOPIC,
        partition: 0,
        key: Buffer.from(rec.runId),
        value: Buffer.from(JSON.stringify(rec)),
        timestamp: rec.updatedMs,
      },
    ]);
  } finally {
    await producer.close();
  }
}

/**
 * The run records of a topology (all topologies when omitted), the last record per run id, oldest start first.
 * An absent topic holds no runs. Throws `RunRecordFormatError` on a record in a newer format.
 */
export async function readRuns(log: Log, topology?: string, nowMs = Date.now()): Promise<ListedRun[]> {
  if ((await log.describeTopic(RUNS_TOPIC)) === undefined) return [];
  const byId = new Map<string, RunRecord>();
  for await (const batch of log.read({ topic: RUNS_TOPIC, partition: 0 }))
    for (const r of batch) {
      if (r.key === null) continue;
      const id = r.key.toString('utf8');
      if (r.value === null) {
        byId.delete(id);
        continue;
      }
      const rec = JSON.parse(r.value.toString('utf8')) as RunRecord;
      if ((rec.format ?? 0) > RUNS_FORMAT) throw new RunRecordFormatError(id, rec.format);
      byId.set(id, rec);
    }
  return [...byId.values()]
    .filter((r) => topology === undefined || r.topology === topology)
    .sort((a, b) => a.startMs - b.startMs || a.runId.localeCompare(b.runId))
    .map((r) => ({ ...r, status: statusOf(r, nowMs) }));
}

/**
 * How a run ended, or, for a record without an end: `killed` when its process is gone (same host: no process with
 * its pid; another host: no heartbeat for `KILLED_AFTER_MS`), else `running`.
 */
export function statusOf(r: RunRecord, nowMs = Date.now()): ListedRun['status'] {
  if (r.exit !== undefined) return r.exit.reason;
  if (r.host === hostname()) return processAlive(r.pid) ? 'running' : 'killed';
  return nowMs - r.updatedMs > KILLED_AFTER_MS ? 'killed' : 'running';
}

/**
 * Whether a run record belongs to a run still going on: no end written, `statusOf` says `running` (same host: its
 * pid exists; another host: a heartbeat within `KILLED_AFTER_MS`), and, on any host, the record rewritten within
 * `KILLED_AFTER_MS` of `nowMs` (ms since epoch): on this host the pid of a stale record may belong to another process
 * by now. The one rule for "a process runs this version": `eddy retire` waits for these runs, `eddy versions`
 * measures replay rates from them.
 */
export function isOpenRun(r: RunRecord, nowMs = Date.now()): boolean {
  return r.endMs === undefined && nowMs - r.updatedMs <= KILLED_AFTER_MS && statusOf(r, nowMs) === 'running';
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
