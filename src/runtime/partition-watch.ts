/**
 * The partition-count watch of a runner (issue 16): a version's tasks are built for the partition counts of its
 * source and repartition topics when it set up; partitions added under it would spread keys over a new count, so one
 * key could reach two tasks. The watch compares the counts with fresh metadata (`Log.partitionCounts`) before each
 * commit and every `intervalMs` (so an idle worker notices too), and fails with `PartitionCountChangedError` naming
 * the topic, both counts and the fix. The check of a batch starts when its processing starts, after it was fetched
 * (so it overlaps the processing: one Metadata request, ~4 ms on a loopback broker, shared by the batches that ask
 * meanwhile), and the batch commits only once it passed: a batch that holds a record produced after the change (its
 * producer saw the new count first) is never committed.
 *
 * Only on Kafka: the embedded log cannot add partitions to a topic (`createTopics` refuses another count with
 * `TOPIC_MISMATCH`), so there the watch does nothing.
 *
 * The same checks notice a deleted topic: a source, repartition, changelog or output topic of a version missing from
 * the metadata in two checks in a row (so a metadata answer during a leader move is not mistaken for a deletion)
 * fails with `TopicDeletedError` naming the topic and its role, within seconds, instead of a consumer restarting for
 * minutes on "does not host this topic-partition".
 */
import { PartitionCountChangedError, TopicDeletedError } from '../errors.js';
import type { Log } from '../log/contract.js';
import { versionId } from '../topology/names.js';
import type { VersionRuntime } from './version.js';

/** How often the watch checks while no commit asks, ms. */
export const PARTITION_WATCH_MS = 2_000;

/** Options of `PartitionWatch`. */
export interface PartitionWatchOptions {
  readonly log: Log;
  readonly versions: readonly VersionRuntime[];
  /** A change (or a deleted topic) was found by the periodic check (the runner fails with it). */
  readonly onChange: (err: PartitionCountChangedError | TopicDeletedError) => void;
  /** Periodic check interval, ms; default `PARTITION_WATCH_MS`. */
  readonly intervalMs?: number;
  /** A periodic check failed for another reason (metadata unavailable): reported, not fatal. */
  readonly onWarning?: (message: string) => void;
}

/** See the module docstring. `check` coalesces concurrent callers into one metadata request. */
export class PartitionWatch {
  private timer?: NodeJS.Timeout;
  /** Callers so far; a request covers the callers counted before it started. */
  private asked = 0;
  private covered = 0;
  private inflight?: Promise<void>;
  private changed?: PartitionCountChangedError | TopicDeletedError;
  /** Topics missing from the last metadata answer (a second miss in a row is a deletion). */
  private missing = new Set<string>();

  constructor(private readonly o: PartitionWatchOptions) {}

  private get active(): boolean {
    return this.o.log.kind === 'kafka';
  }

  /** Starts the periodic check. */
  start(): void {
    if (!this.active || this.timer !== undefined) return;
    this.timer = setInterval(() => {
      this.check().catch((err: unknown) => {
        if (err instanceof PartitionCountChangedError || err instanceof TopicDeletedError) this.o.onChange(err);
        else this.o.onWarning?.(`partition-count check failed: ${err instanceof Error ? err.message : String(err)}`);
      });
    }, this.o.intervalMs ?? PARTITION_WATCH_MS);
    this.timer.unref();
  }

  /** Stops the periodic check. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Resolves when metadata fetched after this call shows every source and repartition topic with the partition count
   * its version was built for. Once a change is seen, every later call throws it too.
   * @throws PartitionCountChangedError naming the topic, its role, the counts and the fix.
   */
  async check(): Promise<void> {
    if (!this.active) return;
    if (this.changed) throw this.changed;
    const me = ++this.asked;
    while (this.covered < me) {
      if (this.inflight === undefined) {
        const upTo = this.asked;
        this.inflight = this.compare()
          .then(() => {
            this.covered = Math.max(this.covered, upTo);
          })
          .finally(() => {
            this.inflight = undefined;
          });
      }
      await this.inflight;
    }
    if (this.changed) throw this.changed;
  }

  /**
   * `check` for a batch about to commit: a failed metadata request is not a change (the commit that follows meets
   * the broker's trouble itself), so only a change rejects.
   * @throws PartitionCountChangedError
   */
  async beforeCommit(): Promise<void> {
    try {
      await this.check();
    } catch (err) {
      if (err instanceof PartitionCountChangedError || err instanceof TopicDeletedError) throw err;
    }
  }

  private async compare(): Promise<void> {
    const expected: { version: VersionRuntime; topic: string; partitions: number }[] = [];
    for (const v of this.o.versions)
      for (const topic of v.sourceTopics) expected.push({ version: v, topic, partitions: v.partitionsOf(topic) });
    // the topics it writes: a deletion is to be named too
    const written: { version: VersionRuntime; topic: string; role: string }[] = [];
    for (const v of this.o.versions)
      for (const info of v.topology.topics.values())
        if (info.role === 'changelog' || info.role === 'output')
          written.push({ version: v, topic: info.name, role: info.role });
    if (expected.length === 0) return;
    const now = await this.o.log.partitionCounts([
      ...new Set([...expected.map((e) => e.topic), ...written.map((w) => w.topic)]),
    ]);
    const gone = [
      ...expected.map((e) => ({
        version: e.version,
        topic: e.topic,
        role: e.version.isInternal(e.topic) ? 'repartition' : 'source',
      })),
      ...written,
    ].filter((x) => !now.has(x.topic));
    const missingNow = new Set(gone.map((g) => g.topic));
    for (const g of gone)
      if (this.missing.has(g.topic)) {
        const t = g.version.topology;
        this.changed ??= new TopicDeletedError(versionId(t.name, t.version), g.topic, g.role);
      }
    this.missing = missingNow;
    for (const e of expected) {
      const n = now.get(e.topic);
      if (n === undefined || n === e.partitions) continue;
      const t = e.version.topology;
      this.changed ??= new PartitionCountChangedError(
        versionId(t.name, t.version),
        e.topic,
        e.version.isInternal(e.topic) ? 'repartition' : 'source',
        e.partitions,
        n,
      );
    }
    if (this.changed) throw this.changed;
  }
}
