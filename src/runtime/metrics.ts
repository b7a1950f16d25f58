/**
 * Prometheus metrics of a worker (prom-client), on a registry of its own. Besides the process (commits, aborts,
 * rebalances, restores and Node's default metrics) they describe the data: records in and out per topic, consumer
 * lag per partition, dead letters, late and dropped records per processor.
 *
 * Counters are read from the runner's `RunStats` when scraped (they count since the process started, as Prometheus
 * counters do); the latency histogram is observed per committed batch.
 *
 * Data health (with `health` topics): `eddy_output_records_per_second{topic}` (outputs and the dead-letter topic, over
 * the last minute), `eddy_dead_letter_ratio{topic}` and `eddy_late_ratio` (dead letters and late records over the
 * records read from the sources, since the process started), `eddy_output_null_values_total{topic,field}`.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { BatchInfo, Readiness } from './runner.js';
import type { HealthTopics, RunStats } from './stats.js';

/** Consumer lag of one assigned partition: end offset - committed offset. */
export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  readonly lag: number;
}

/** What the metrics read. */
export interface MetricsSource {
  readonly stats: RunStats;
  readiness(): Readiness;
  /** Stores of the topology: their restore series exist (at 0) from the start. */
  readonly stores: readonly string[];
  /** Lag of every assigned partition, computed when scraped. */
  lag(): Promise<readonly PartitionLag[]>;
  /** The version's topics by role: with them, the data-health metrics are exported. */
  readonly health?: HealthTopics;
}

/** Seconds buckets of the batch latency histogram: 1 ms to 30 s. */
export const LATENCY_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** A worker's metrics. `registry.metrics()` renders the Prometheus text format. */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly batchLatency: Histogram<'topic'>;

  constructor(src: MetricsSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const { stats } = src;
    const fromMap = (
      name: string,
      help: string,
      label: string,
      map: () => ReadonlyMap<string, number>,
      zeros: readonly string[] = [],
    ) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          for (const z of zeros) this.inc({ [label]: z }, 0);
          for (const [k, v] of map()) this.inc({ [label]: k }, v);
        },
      });
    const fromNumber = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });

    fromMap(
      'eddy_records_in_total',
      'Records read from each input topic (sources and repartition topics).',
      'topic',
      () => stats.recordsIn,
    );
    fromMap(
      'eddy_records_out_total',
      'Records committed to each topic (outputs, repartition, changelogs, dead letters).',
      'topic',
      () => stats.recordsOut,
    );
    fromMap(
      'eddy_dead_letters_total',
      'Records sent to the dead-letter topic, by the processor that rejected them.',
      'processor',
      () => stats.deadLetters,
    );
    fromMap(
      'eddy_late_records_total',
      'Records that arrived after their window closed (window end + grace), by processor.',
      'processor',
      () => stats.lateBy,
    );
    fromMap(
      'eddy_dropped_records_total',
      'Records dropped on purpose (filters, inner joins without a match), by processor.',
      'processor',
      () => stats.droppedBy,
    );
    fromMap(
      'eddy_restore_records_total',
      'Changelog records applied to restore state stores, by store.',
      'store',
      () => stats.restoredBy,
      src.stores,
    );
    fromNumber('eddy_commits_total', 'Committed transactions (one per task batch).', () => stats.commits);
    fromNumber('eddy_aborts_total', 'Aborted transactions.', () => stats.aborts);
    fromNumber(
      'eddy_rebalances_total',
      'Rebalances seen by this worker: partition assignment changes (the first assignment counts).',
      () => stats.rebalances,
    );

    new Gauge({
      name: 'eddy_restore_remaining',
      help: 'Changelog records left to restore, by store, over the tasks restoring now.',
      labelNames: ['store'],
      registers,
      collect() {
        this.reset();
        const left = new Map(src.stores.map((s) => [s, 0]));
        for (const t of src.readiness().tasks)
          if (t.state === 'restoring')
            for (const s of t.stores) left.set(s.store, (left.get(s.store) ?? 0) + Math.max(0, s.total - s.restored));
        for (const [store, n] of left) this.set({ store }, n);
      },
    });
    new Gauge({
      name: 'eddy_consumer_lag',
      help: 'Records not yet processed in each assigned partition (end offset - committed offset).',
      labelNames: ['topic', 'partition'],
      registers,
      async collect() {
        this.reset();
        for (const l of await src.lag()) this.set({ topic: l.topic, partition: String(l.partition) }, l.lag);
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
      help: 'Assigned tasks by state (restoring, running).',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        const tasks = src.readiness().tasks;
        for (const state of ['restoring', 'running'] as const)
          this.set({ state }, tasks.filter((t) => t.state === state).length);
      },
    });
    if (src.health !== undefined) this.dataHealth(src.stats, src.health, registers);
    this.batchLatency = new Histogram({
      name: 'eddy_processing_latency_seconds',
      help: 'Wall time of one batch: decode, process, commit.',
      labelNames: ['topic'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
  }

  private dataHealth(stats: RunStats, topics: HealthTopics, registers: Registry[]): void {
    new Gauge({
      name: 'eddy_output_records_per_second',
      help: 'Records committed per second to each output and to the dead-letter topic, over the last minute.',
      labelNames: ['topic'],
      registers,
      collect() {
        this.reset();
        for (const topic of [...topics.outputs, topics.deadLetterTopic])
          this.set({ topic }, stats.recordsPerSecond(topic));
      },
    });
    new Gauge({
      name: 'eddy_dead_letter_ratio',
      help: 'Dead letters / records read from the source topics, since the worker started (0 before any record).',
      labelNames: ['topic'],
      registers,
      collect() {
        this.set({ topic: topics.deadLetterTopic }, stats.health(topics).deadLetterRatio);
      },
    });
    new Gauge({
      name: 'eddy_late_ratio',
      help: 'Late records (after window end + grace) / records read from the source topics, since the worker started.',
      registers,
      collect() {
        this.set(stats.health(topics).lateRatio);
      },
    });
    new Counter({
      name: 'eddy_output_null_values_total',
      help: 'Output records whose value field was null (or absent), by output topic and field.',
      labelNames: ['topic', 'field'],
      registers,
      collect() {
        this.reset();
        for (const [topic, fields] of stats.nullCounts) for (const [field, n] of fields) this.inc({ topic, field }, n);
      },
    });
  }

  /** Records one committed batch. */
  observeBatch(b: BatchInfo): void {
    this.batchLatency.observe({ topic: b.topic }, b.durationMs / 1000);
  }

  /** The Prometheus text exposition. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
