/**
 * Prometheus metrics of a worker (prom-client), on a registry of its own. Besides the process (commits, aborts,
 * rebalances, restores and Node's default metrics) they describe the data: records in and out per topic, consumer
 * lag per partition, dead letters, late and dropped records per processor.
 *
 * A worker hosts one or several versions of a topology (shared read): every series that describes a version's work
 * carries a `version` label (the topology version number, e.g. `version="2"`), and every hosted version is exported.
 * Only `eddy_rebalances_total` and `eddy_ready` describe the worker as a whole (one shared consumer, one readiness)
 * and have no `version` label.
 *
 * Counters are read from each version's `RunStats` when scraped (they count since the process started, as Prometheus
 * counters do); the versions are read again at every scrape (a worker replaces its runner after a lost broker). The
 * latency histogram is observed per committed batch.
 *
 * Data health (with `health` topics): `eddy_output_records_per_second{topic,version}` (outputs and the dead-letter
 * topic, over the last minute), `eddy_dead_letter_ratio{topic,version}` and `eddy_late_ratio{version}` (dead letters
 * and late records over the records read from the version's sources, since the process started),
 * `eddy_output_null_values_total{topic,field,version}`.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Log, TopicPartition } from '../log/contract.js';
import { versionId } from '../topology/names.js';
import type { BatchInfo, Readiness } from './runner.js';
import type { HealthTopics, RunStats } from './stats.js';

/** Consumer lag of one assigned partition for one version: end offset - that version's committed offset. */
export interface PartitionLag {
  readonly version: number;
  readonly topic: string;
  readonly partition: number;
  readonly lag: number;
}

/** What the metrics read of one hosted version. */
export interface VersionMetricsSource {
  /** The topology's name and the version's number (task ids of the version start with `<name>.v<N>/`). */
  readonly name: string;
  readonly version: number;
  readonly stats: RunStats;
  /** Stores of the version: their restore series exist (at 0) from the start. */
  readonly stores: readonly string[];
  /** The version's topics by role: with them, the data-health metrics of the version are exported. */
  readonly health?: HealthTopics;
}

/** What the metrics read, at every scrape. */
export interface MetricsSource {
  /** The versions hosted now (read at every scrape). */
  versions(): readonly VersionMetricsSource[];
  /** Counter of rebalances of the worker's shared consumer (one per worker, not per version). */
  rebalances(): number;
  readiness(): Readiness;
  /** Lag of every assigned partition for every version, computed when scraped (see `versionsLag`). */
  lag(): Promise<readonly PartitionLag[]>;
}

/** Seconds buckets of the batch latency histogram: 1 ms to 30 s. */
export const LATENCY_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A hosted version, as `versionsLag` needs it: its consumer group and the topics its tasks read. */
export interface LaggingVersion {
  readonly version: number;
  /** The version's own consumer group `<topology>.v<N>`, holding its committed positions. */
  readonly groupId: string;
  /** Topics the version's tasks read: external inputs and its own repartition topics. */
  readonly sourceTopics: readonly string[];
}

/**
 * Lag per version of each assigned partition the version reads: end offset - the version's committed offset (in its
 * own group `<topology>.v<N>`; the partition's log start when it committed nothing). Sorted by version, topic,
 * partition.
 */
export async function versionsLag(
  log: Log,
  assigned: readonly TopicPartition[],
  versions: readonly LaggingVersion[],
): Promise<PartitionLag[]> {
  const out: PartitionLag[] = [];
  const ends = new Map<string, Awaited<ReturnType<Log['offsets']>>>();
  for (const v of versions) {
    const byTopic = new Map<string, number[]>();
    for (const tp of assigned)
      if (v.sourceTopics.includes(tp.topic)) byTopic.set(tp.topic, [...(byTopic.get(tp.topic) ?? []), tp.partition]);
    for (const [topic, partitions] of byTopic) {
      let offsets = ends.get(topic);
      if (offsets === undefined) {
        offsets = await log.offsets(topic);
        ends.set(topic, offsets);
      }
      const committed = await log.committedOffsets(v.groupId, topic);
      for (const o of offsets) {
        if (!partitions.includes(o.partition)) continue;
        const next = Math.max(o.low, committed.get(o.partition)?.offset ?? o.low);
        out.push({ version: v.version, topic, partition: o.partition, lag: Math.max(0, o.high - next) });
      }
    }
  }
  return out.sort((a, b) => a.version - b.version || a.topic.localeCompare(b.topic) || a.partition - b.partition);
}

/** A worker's metrics. `registry.metrics()` renders the Prometheus text format. */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly batchLatency: Histogram<'topic' | 'version'>;

  constructor(src: MetricsSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    /** A counter per version and `label`, from each version's stats. */
    const fromMap = (
      name: string,
      help: string,
      label: string,
      map: (s: RunStats) => ReadonlyMap<string, number>,
      zeros: (v: VersionMetricsSource) => readonly string[] = () => [],
    ) =>
      new Counter({
        name,
        help,
        labelNames: [label, 'version'],
        registers,
        collect() {
          this.reset();
          for (const v of src.versions()) {
            const version = String(v.version);
            for (const z of zeros(v)) this.inc({ [label]: z, version }, 0);
            for (const [k, n] of map(v.stats)) this.inc({ [label]: k, version }, n);
          }
        },
      });
    const fromNumber = (name: string, help: string, read: (s: RunStats) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['version'],
        registers,
        collect() {
          this.reset();
          for (const v of src.versions()) this.inc({ version: String(v.version) }, read(v.stats));
        },
      });
    /** The version of a task id (`<name>.v<N>/<task>`), among the hosted ones. */
    const versionOfTask = (versions: readonly VersionMetricsSource[], task: string) =>
      versions.find((v) => task.startsWith(`${versionId(v.name, v.version)}/`));

    fromMap(
      'eddy_records_in_total',
      'Records read from each input topic (sources and repartition topics), per version.',
      'topic',
      (s) => s.recordsIn,
    );
    fromMap(
      'eddy_records_out_total',
      'Records committed to each topic (outputs, repartition, changelogs, dead letters), per version.',
      'topic',
      (s) => s.recordsOut,
    );
    fromMap(
      'eddy_dead_letters_total',
      'Records sent to the dead-letter topic, by the processor that rejected them, per version.',
      'processor',
      (s) => s.deadLetters,
    );
    fromMap(
      'eddy_late_records_total',
      'Records that arrived after their window closed (window end + grace), by processor, per version.',
      'processor',
      (s) => s.lateBy,
    );
    fromMap(
      'eddy_redriven_skipped_total',
      "Re-driven copies of another version's dead letters skipped (the version read their originals), by source topic, per version.",
      'topic',
      (s) => s.redrivenSkipped,
    );
    fromMap(
      'eddy_dropped_records_total',
      'Records dropped on purpose (filters, inner joins without a match), by processor, per version.',
      'processor',
      (s) => s.droppedBy,
    );
    fromMap(
      'eddy_restore_records_total',
      'Changelog records applied to restore state stores, by store, per version.',
      'store',
      (s) => s.restoredBy,
      (v) => v.stores,
    );
    fromNumber('eddy_commits_total', 'Committed transactions (one per task batch), per version.', (s) => s.commits);
    fromNumber('eddy_aborts_total', 'Aborted transactions, per version.', (s) => s.aborts);
    new Counter({
      name: 'eddy_rebalances_total',
      help: "Rebalances seen by this worker's shared consumer: partition assignment changes (the first assignment counts).",
      registers,
      collect() {
        this.reset();
        this.inc(src.rebalances());
      },
    });

    new Gauge({
      name: 'eddy_restore_remaining',
      help: 'Changelog records left to restore, by store and version, over the tasks restoring now.',
      labelNames: ['store', 'version'],
      registers,
      collect() {
        this.reset();
        const versions = src.versions();
        const left = new Map<VersionMetricsSource, Map<string, number>>(
          versions.map((v) => [v, new Map(v.stores.map((s) => [s, 0]))]),
        );
        for (const t of src.readiness().tasks) {
          const v = versionOfTask(versions, t.task);
          if (v === undefined || t.state !== 'restoring') continue;
          const m = left.get(v)!;
          for (const s of t.stores) m.set(s.store, (m.get(s.store) ?? 0) + Math.max(0, s.total - s.restored));
        }
        for (const [v, m] of left) for (const [store, n] of m) this.set({ store, version: String(v.version) }, n);
      },
    });
    new Gauge({
      name: 'eddy_consumer_lag',
      help: "Records not yet processed by each version in each assigned partition (end offset - the version's committed offset).",
      labelNames: ['topic', 'partition', 'version'],
      registers,
      async collect() {
        this.reset();
        for (const l of await src.lag())
          this.set({ topic: l.topic, partition: String(l.partition), version: String(l.version) }, l.lag);
      },
    });
    new Gauge({
      name: 'eddy_ready',
      help: '1 when every assigned task is restored and processing (as GET /ready), else 0.',
      registers,
      collect() {
        this.set(src.readiness().ready ? 1 : 0);
      },
    });
    new Gauge({
      name: 'eddy_tasks',
      help: 'Assigned tasks by state (restoring, running) and version.',
      labelNames: ['state', 'version'],
      registers,
      collect() {
        this.reset();
        const versions = src.versions();
        const tasks = src.readiness().tasks;
        for (const v of versions)
          for (const state of ['restoring', 'running'] as const)
            this.set(
              { state, version: String(v.version) },
              tasks.filter((t) => t.state === state && versionOfTask(versions, t.task) === v).length,
            );
      },
    });
    this.dataHealth(src, registers);
    this.batchLatency = new Histogram({
      name: 'eddy_processing_latency_seconds',
      help: 'Wall time of one batch: decode, process, commit.',
      labelNames: ['topic', 'version'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
  }

  /** The data-health gauges of every version that has `health` topics. */
  private dataHealth(src: MetricsSource, registers: Registry[]): void {
    const withHealth = () =>
      src
        .versions()
        .flatMap((v) => (v.health === undefined ? [] : [{ v, topics: v.health, version: String(v.version) }]));
    new Gauge({
      name: 'eddy_output_records_per_second',
      help: 'Records committed per second to each output and to the dead-letter topic, per version, over the last minute.',
      labelNames: ['topic', 'version'],
      registers,
      collect() {
        this.reset();
        for (const { v, topics, version } of withHealth())
          for (const topic of [...topics.outputs, topics.deadLetterTopic])
            this.set({ topic, version }, v.stats.recordsPerSecond(topic));
      },
    });
    new Gauge({
      name: 'eddy_dead_letter_ratio',
      help: "Dead letters / records read from the version's source topics, since the worker started (0 before any record).",
      labelNames: ['topic', 'version'],
      registers,
      collect() {
        this.reset();
        for (const { v, topics, version } of withHealth())
          this.set({ topic: topics.deadLetterTopic, version }, v.stats.health(topics).deadLetterRatio);
      },
    });
    new Gauge({
      name: 'eddy_late_ratio',
      help: "Late records (after window end + grace) / records read from the version's source topics, since the worker started.",
      labelNames: ['version'],
      registers,
      collect() {
        this.reset();
        for (const { v, topics, version } of withHealth()) this.set({ version }, v.stats.health(topics).lateRatio);
      },
    });
    new Counter({
      name: 'eddy_output_null_values_total',
      help: 'Output records whose value field was null (or absent), by output topic, field and version.',
      labelNames: ['topic', 'field', 'version'],
      registers,
      collect() {
        this.reset();
        for (const { v, version } of withHealth())
          for (const [topic, fields] of v.stats.nullCounts)
            for (const [field, n] of fields) this.inc({ topic, field, version }, n);
      },
    });
  }

  /** Records one committed batch. */
  observeBatch(b: BatchInfo): void {
    this.batchLatency.observe({ topic: b.topic, version: String(b.version) }, b.durationMs / 1000);
  }

  /** The Prometheus text exposition. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
