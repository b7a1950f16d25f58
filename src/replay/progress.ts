/**
 * Replay progress of a version as any process can see it: records per second and the time left, measured from the
 * run records (`eddy.meta.runs`, src/runs) of the processes running the version (an `eddy replay`, or workers), so
 * `eddy versions` shows them while the replay runs elsewhere.
 *
 * A run counts while it is open (src/runs `isOpenRun`: no end written, its process alive, its record rewritten
 * within `KILLED_AFTER_MS`). Its rate is the growth of the records read from the version's source topics (`recordsIn`)
 * between the run's last two records on the log (heartbeats, every `RUN_HEARTBEAT_MS`), over the time between them;
 * when only one record with progress is left (the topic was compacted), over the run's elapsed time
 * (`updatedMs - startMs`). Several open runs of a version (workers sharing its partitions) add up. The time left is
 * the version's lag (records, over every input partition) / that rate.
 */
import type { Log } from '../log/contract.js';
import { isOpenRun, RUNS_FORMAT, RUNS_TOPIC, type RunRecord } from '../runs/record.js';

/** Records per second and time left of a version's replay; `null` where unknown. */
export interface ReplayRate {
  /** Input records (from the source topics) processed per second; null without an open run that measured one. */
  readonly recordsPerSecond: number | null;
  /** Lag / records per second, ms; 0 with no lag; null when the rate is unknown or 0. */
  readonly etaMs: number | null;
}

/** The last two records of each run id, oldest first: what a rate between two heartbeats needs. */
export type RunHistory = ReadonlyMap<string, readonly RunRecord[]>;

/**
 * Reads the run records of `topology` keeping, per run id, its last two records (a compacted topic may keep only the
 * last). Records in a newer format than this eddy reads are skipped (`eddy runs` reports them). No topic: no runs.
 */
export async function readRunHistory(log: Log, topology: string): Promise<RunHistory> {
  const out = new Map<string, RunRecord[]>();
  if ((await log.describeTopic(RUNS_TOPIC)) === undefined) return out;
  for await (const batch of log.read({ topic: RUNS_TOPIC, partition: 0 }))
    for (const r of batch) {
      if (r.key === null) continue;
      const id = r.key.toString('utf8');
      if (r.value === null) {
        out.delete(id);
        continue;
      }
      const rec = JSON.parse(r.value.toString('utf8')) as RunRecord;
      if ((rec.format ?? 0) > RUNS_FORMAT || rec.topology !== topology) continue;
      out.set(id, [...(out.get(id) ?? []), rec].slice(-2));
    }
  return out;
}

/** Records read from `sources` in a run record. */
function sourceRecords(r: RunRecord, sources: readonly string[]): number {
  let n = 0;
  for (const s of sources) n += r.recordsIn[s] ?? 0;
  return n;
}

/** Records per second of one run from its last records, or undefined when they do not measure one. */
function runRate(recs: readonly RunRecord[], sources: readonly string[]): number | undefined {
  const last = recs[recs.length - 1];
  const prev = recs.length > 1 ? recs[recs.length - 2] : undefined;
  if (prev !== undefined && last.updatedMs > prev.updatedMs)
    return (
      Math.max(0, sourceRecords(last, sources) - sourceRecords(prev, sources)) /
      ((last.updatedMs - prev.updatedMs) / 1000)
    );
  const n = sourceRecords(last, sources);
  if (last.updatedMs > last.startMs && n > 0) return n / ((last.updatedMs - last.startMs) / 1000);
  return undefined;
}

/**
 * The replay rate of `version` from `history`: the sum over its open runs (see the module's docstring) of their
 * rates, and `lagRecords` / that rate. Both null without an open run that measured a rate.
 */
export function replayRate(
  history: RunHistory,
  version: number,
  sources: readonly string[],
  lagRecords: number,
  nowMs = Date.now(),
): ReplayRate {
  let total: number | undefined;
  for (const recs of history.values()) {
    const last = recs[recs.length - 1];
    if (last.version !== version || !isOpenRun(last, nowMs)) continue;
    const r = runRate(recs, sources);
    if (r !== undefined) total = (total ?? 0) + r;
  }
  if (total === undefined) return { recordsPerSecond: null, etaMs: null };
  const etaMs = lagRecords === 0 ? 0 : total > 0 ? Math.round((lagRecords / total) * 1000) : null;
  return { recordsPerSecond: total, etaMs };
}
