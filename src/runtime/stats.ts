import type { ProcessorMetrics } from '../processors/context.js';

function bump(m: Map<string, number>, k: string, n = 1): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

/**
 * Counters of one run. Beside the process (commits, restores) they describe the data: records in and out per
 * topic, dead letters per processor, records dropped by filters and joins, late records per window.
 */
export class RunStats implements ProcessorMetrics {
  readonly startedAtMs = Date.now();
  readonly recordsIn = new Map<string, number>();
  readonly recordsOut = new Map<string, number>();
  readonly deadLetters = new Map<string, number>();
  readonly droppedBy = new Map<string, number>();
  readonly lateBy = new Map<string, number>();
  /** Committed transactions (one per task batch). */
  commits = 0;
  aborts = 0;
  /** Changelog records applied while restoring stores. */
  restoredRecords = 0;
  /** Changelog records applied while restoring, per store (counted by the runner from restore progress). */
  readonly restoredBy = new Map<string, number>();
  /**
   * Rebalances seen by this member: assignment changes (a revocation followed by an assignment with no batch between
   * counts once; the first assignment counts; the revocation on stop does not).
   */
  rebalances = 0;
  /** Consumer lag per `topic:partition` (high watermark - next offset), as of the last batch. */
  readonly lag = new Map<string, number>();

  in(topic: string, n: number): void {
    bump(this.recordsIn, topic, n);
  }
  out(topic: string, n = 1): void {
    bump(this.recordsOut, topic, n);
  }
  deadLetter(processor: string): void {
    bump(this.deadLetters, processor);
  }
  dropped(processor: string, n = 1): void {
    bump(this.droppedBy, processor, n);
  }
  late(processor: string, n = 1): void {
    bump(this.lateBy, processor, n);
  }
  restored(store: string, n: number): void {
    bump(this.restoredBy, store, n);
  }

  /** Sum of records read from `topics` (all topics when omitted). */
  totalIn(topics?: readonly string[]): number {
    let n = 0;
    for (const [t, v] of this.recordsIn) if (topics === undefined || topics.includes(t)) n += v;
    return n;
  }

  /** Total lag over all partitions. */
  totalLag(): number {
    let n = 0;
    for (const v of this.lag.values()) n += v;
    return n;
  }

  /** A plain-object snapshot (for JSON output and run records). */
  toJSON(): Record<string, unknown> {
    return {
      elapsedMs: Date.now() - this.startedAtMs,
      recordsIn: Object.fromEntries(this.recordsIn),
      recordsOut: Object.fromEntries(this.recordsOut),
      deadLetters: Object.fromEntries(this.deadLetters),
      dropped: Object.fromEntries(this.droppedBy),
      late: Object.fromEntries(this.lateBy),
      commits: this.commits,
      aborts: this.aborts,
      restoredRecords: this.restoredRecords,
      restoredBy: Object.fromEntries(this.restoredBy),
      rebalances: this.rebalances,
    };
  }
}
