/**
 * Versions in threads: a runner that hosts each version of a topology in its own worker thread
 * (`version-thread.ts`), so that on a machine with several cores the versions' processing runs in parallel while
 * the input is still fetched once. The host thread is the reader group's member: it fetches each batch, packs it
 * once into shared memory (`wire.ts`) and hands it to every version thread reading that partition; each thread
 * decodes and processes it with its own tasks, stores, producers and log connection, and commits its own positions.
 * A thread behind the host's position catches up with its own reads, as in the single-thread runner (`reader.ts`).
 * On the embedded log a thread also reads its own repartition topics itself (`direct-read.ts`).
 *
 * Same contract as `TopologyRunner` (`setup`, `run`, `stop`, `readiness`, per-version counters, `retiredVersions`).
 * The versions must be loadable in a thread by name (`ThreadsOptions.topology`: built in, or registered in the
 * configuration's `topologies`); a thread whose code gives another fingerprint than the host's refuses to run.
 */
import type { Consumer, TopicPartition } from '../../log/contract.js';
import { tpKey } from '../../log/contract.js';
import type { Topology } from '../../topology/graph.js';
import { readerGroupId } from '../../topology/names.js';
import type { Readiness, RunnerOptions, RunnerPhase, TaskStatus } from '../runner-types.js';
import type { RunStats } from '../stats.js';
import { checkHostedVersions } from '../version.js';
import { atEnd } from './direct-read.js';
import { fromWire, type ThreadMessage, type ThreadsOptions } from './protocol.js';
import { relayEvent, VersionThread } from './thread-handle.js';
import { packBatch } from './wire.js';

export type { ThreadsOptions } from './protocol.js';
export type { HostedVersion } from './thread-handle.js';

/**
 * Batches handed to one version thread and not yet processed: the host reads ahead of the slowest thread by at most
 * this many (it pipelines its fetch with the threads' processing; memory stays bounded).
 */
export const MAX_BATCHES_IN_FLIGHT = 3;

/** With `untilIdle` on the embedded log: how often the host looks whether its inputs are at their end, ms. */
export const IDLE_LOOK_MS = 50;

/**
 * Runs the versions of one topology, each in its own thread, as one member of the topology's reader group. See the
 * module comment. Throws `ConfigError` (before any thread starts) for no versions, versions of several topologies or
 * a version given twice.
 */
export class ThreadedRunner {
  readonly versions: readonly VersionThread[];
  private consumer?: Consumer;
  private phaseNow: RunnerPhase = 'created';
  private stopping = false;
  private failure?: { error: unknown };
  private readonly assigned = new Map<string, TopicPartition>();
  /** Per partition: the offset after the last batch handed on (first: where the consumer was resumed). */
  private readonly prevEnd = new Map<string, number>();
  /** Per shared partition: the positions the version threads asked to start at. */
  private readonly requested = new Map<string, Map<VersionThread, number>>();
  /** Per partition: the threads its batches go to. */
  private readonly receivers = new Map<string, VersionThread[]>();
  private fetchedRecords = 0;
  private sharedInputRecords = 0;
  /** On the embedded log each thread reads its repartition topics itself (`direct-read.ts`). */
  private readonly directReads: boolean;
  /** `untilIdle` with direct reads: the timer of `lookIdle`, and whether a look is in flight. */
  private idleTimer?: NodeJS.Timeout;
  private looking = false;

  constructor(
    topologies: readonly Topology[],
    private readonly opts: RunnerOptions & { readonly threads: ThreadsOptions },
  ) {
    checkHostedVersions('ThreadedRunner', topologies);
    const pg = opts.processingGuarantee ?? 'exactly-once';
    this.versions = topologies.map((t) => new VersionThread(t, opts, pg));
    this.directReads = opts.log.kind === 'embedded';
  }

  get topology(): Topology {
    return this.versions[0].topology;
  }

  get stats(): RunStats {
    return this.versions[0].stats;
  }

  statsOf(version: number): RunStats | undefined {
    return this.versions.find((v) => v.topology.version === version)?.stats;
  }

  get fetched(): { records: number; sharedInputRecords: number; catchUpRecords: number } {
    const catchUp = this.versions.reduce((n, v) => n + v.catchUpRecords, 0);
    const direct = this.versions.reduce((n, v) => n + v.directRecords, 0);
    return {
      records: this.fetchedRecords + catchUp + direct,
      sharedInputRecords: this.sharedInputRecords,
      catchUpRecords: catchUp,
    };
  }

  get phase(): RunnerPhase {
    return this.phaseNow;
  }

  get retiredVersions(): readonly number[] {
    return [...new Set(this.versions.flatMap((v) => v.result?.retired ?? []))];
  }

  /**
   * Starts one thread per version and sets every version up in two steps, as `TopologyRunner.setup` does: every
   * thread's checks (nothing written) before any thread's writes. Rejects with the first error; the threads end.
   */
  async setup(): Promise<void> {
    if (this.phaseNow !== 'created') return;
    this.phaseNow = 'setting-up';
    const o = this.opts;
    for (const v of this.versions)
      v.start(
        {
          config: o.threads.config,
          topology: o.threads.topology,
          version: v.topology.version,
          fingerprint: v.fingerprint,
          knownVersions: o.knownVersions ?? this.versions.map((x) => x.topology.version),
          maxBatchRecords: o.maxBatchRecords ?? 5_000,
          maxCacheEntries: Math.ceil((o.maxCacheEntries ?? 50_000) / this.versions.length),
          processingGuarantee: o.processingGuarantee ?? 'exactly-once',
          retiredCheckMs: o.retiredCheckMs,
          stateDir: o.stateDir,
          forwardKafkaLog: o.threads.kafkaLogSink !== undefined,
          writeLock: o.log.kind === 'embedded' ? (o.log as { writeLock?: SharedArrayBuffer }).writeLock : undefined,
          directReads: this.directReads,
        },
        (t, m) => this.onMessage(t, m),
      );
    try {
      await Promise.all(this.versions.map((v) => v.call({ op: 'check' })));
      await Promise.all(this.versions.map((v) => v.call({ op: 'create' })));
    } catch (err) {
      this.phaseNow = 'failed';
      await this.end();
      throw err;
    }
  }

  /** Runs until `stop()` (or idle with `untilIdle`, once every version is). Rejects if a version fails. */
  async run(): Promise<RunStats> {
    if (this.phaseNow === 'created') await this.setup();
    if (this.stopping) {
      await this.end();
      this.phaseNow = 'stopped';
      return this.stats;
    }
    const topics = [...new Set(this.versions.flatMap((v) => v.sourceTopics))];
    const consumer = this.opts.log.consumer({
      groupId: this.opts.readerGroupId ?? readerGroupId(this.topology.name),
      topics,
      maxBatchRecords: this.opts.maxBatchRecords ?? 5_000,
      startPaused: true,
    });
    this.consumer = consumer;
    this.phaseNow = 'joining';
    for (const v of this.versions) v.post({ t: 'run' });
    if (this.directReads && this.opts.untilIdle === true)
      this.idleTimer = setInterval(() => void this.lookIdle(), IDLE_LOOK_MS);
    let failed = false;
    try {
      await consumer.run({
        onAssigned: async (tps) => this.assign(tps),
        onRevoked: (tps) => this.revoke(tps),
        eachBatch: async (batch) => {
          const { topic, partition, records } = batch;
          const last = records[records.length - 1];
          if (last === undefined) return;
          const key = tpKey(topic, partition);
          const to = (this.receivers.get(key) ?? []).filter((v) => !v.finished);
          if (!this.prevEnd.has(key) || to.length === 0) return;
          this.fetchedRecords += records.length;
          if (!to[0].internal.has(topic)) this.sharedInputRecords += records.length;
          const packed = packBatch(topic, partition, records);
          const hw = batch.highWatermark;
          // Handed on, not awaited: the host fetches the next batch while the threads process this one. A thread
          // processes its batches in the order sent; at most MAX_BATCHES_IN_FLIGHT wait per thread.
          for (const v of to) this.track(v, v.call({ op: 'batch', batch: { packed, highWatermark: hw } }));
          this.prevEnd.set(key, last.offset + 1);
          this.markRunning();
          while (!this.stopping && to.some((v) => v.inFlight.size >= MAX_BATCHES_IN_FLIGHT))
            await Promise.race(to.flatMap((v) => [...v.inFlight]));
        },
        onIdle: async () => {
          this.markRunning();
          if (this.opts.untilIdle === true) await this.checkIdle();
        },
      });
      if (this.failure !== undefined) throw this.failure.error;
    } catch (err) {
      failed = true;
      throw this.failure?.error ?? err;
    } finally {
      clearInterval(this.idleTimer);
      await this.end();
      this.phaseNow = failed ? 'failed' : 'stopped';
    }
    // A thread that failed while the host was already stopping (e.g. its last commit while closing its tasks) fails
    // the run too, as a failed close fails a `TopologyRunner`'s run.
    const error = this.versions.find((v) => v.result?.error !== undefined)?.result?.error;
    if (error !== undefined) {
      this.phaseNow = 'failed';
      throw fromWire(error);
    }
    return this.stats;
  }

  /** Stops every version (each lets its batch in flight commit and closes its tasks) and the shared consumer. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.phaseNow !== 'stopped' && this.phaseNow !== 'failed') this.phaseNow = 'stopping';
    for (const v of this.versions) v.post({ t: 'stop' });
    await this.consumer?.stop();
  }

  /** Ready when running and every version thread reported its tasks restored (`TopologyRunner.readiness`). */
  readiness(): Readiness {
    const tasks: TaskStatus[] = this.versions.flatMap((v) => v.readiness?.tasks ?? []);
    tasks.sort((a, b) => a.task.localeCompare(b.task, 'en', { numeric: true }));
    const reported = this.versions.every((v) => v.finished || v.readiness !== undefined);
    return {
      ready: this.phaseNow === 'running' && reported && tasks.every((t) => t.state === 'running'),
      phase: this.phaseNow,
      tasks,
    };
  }

  /** Commits of all threads when every one was last found idle (reset when one is not). */
  private idleCommits?: number;

  /** Counts a batch handed to a thread until the thread processed it; a failure fails the host. */
  private track(v: VersionThread, p: Promise<unknown>): void {
    const done: Promise<unknown> = p.then(
      () => v.inFlight.delete(done),
      (err: unknown) => {
        v.inFlight.delete(done);
        this.fail(err);
      },
    );
    v.inFlight.add(done);
  }

  /**
   * `untilIdle`: the host's consumer is at the end of every partition. The run ends once every thread is idle in two
   * rounds in a row with no commit between them: a thread's last commit (e.g. records for its repartition topic) may
   * land after the consumer looked, and the next round's look sees it.
   */
  private async checkIdle(): Promise<void> {
    if (this.stopping || this.versions.some((v) => v.inFlight.size > 0)) return;
    const replies = await Promise.all(this.versions.filter((v) => !v.finished).map((v) => v.call({ op: 'idle' })));
    if (!replies.every((r) => r === undefined || r.idle)) {
      this.idleCommits = undefined;
      return;
    }
    const commits = replies.reduce((n, r) => n + (r?.commits ?? 0), 0);
    if (this.idleCommits !== commits) {
      this.idleCommits = commits;
      return;
    }
    this.stopping = true;
    for (const v of this.versions) v.post({ t: 'stop', idle: true });
    void this.consumer?.stop();
  }

  /**
   * `untilIdle` with direct reads: the host's consumer keeps the threads' repartition partitions paused, so its
   * `onIdle` never comes while it holds one (the log contract: a paused partition is not idle). The host looks
   * itself: once every shared input partition it holds was started and has nothing past the last batch handed on,
   * it asks the threads as `onIdle` does (`checkIdle`).
   */
  private async lookIdle(): Promise<void> {
    if (this.looking || this.stopping || this.assigned.size === 0) return;
    this.looking = true;
    try {
      for (const [key, tp] of this.assigned) {
        if (this.versions.some((v) => v.internal.has(tp.topic))) continue;
        const at = this.prevEnd.get(key);
        if (at === undefined || !(await atEnd(this.opts.log, tp, at))) return;
      }
      await this.checkIdle();
    } finally {
      this.looking = false;
    }
  }

  private markRunning(): void {
    if (this.phaseNow === 'joining') this.phaseNow = 'running';
  }

  private fail(err: unknown): void {
    this.failure ??= { error: err };
    this.stopping = true;
    for (const v of this.versions) v.post({ t: 'stop' });
    void this.consumer?.stop();
  }

  /** Tells every thread to stop and waits for them to end. */
  private async end(): Promise<void> {
    for (const v of this.versions) v.post({ t: 'stop' });
    await Promise.all(this.versions.map((v) => v.done));
    await Promise.all(this.versions.map((v) => v.terminate()));
  }

  private async assign(tps: readonly TopicPartition[]): Promise<void> {
    for (const tp of tps) this.assigned.set(tpKey(tp.topic, tp.partition), tp);
    await Promise.all(
      this.versions.map((v) => {
        const mine = tps.filter((tp) => v.reads(tp.topic));
        return mine.length === 0 ? undefined : v.call({ op: 'assigned', partitions: mine });
      }),
    );
    this.markRunning();
  }

  private async revoke(tps: readonly TopicPartition[]): Promise<void> {
    for (const tp of tps) {
      const key = tpKey(tp.topic, tp.partition);
      this.assigned.delete(key);
      this.prevEnd.delete(key);
      this.requested.delete(key);
      this.receivers.delete(key);
    }
    await Promise.all(
      this.versions.map((v) => {
        const mine = tps.filter((tp) => v.reads(tp.topic));
        return mine.length === 0 ? undefined : v.call({ op: 'revoked', partitions: mine });
      }),
    );
  }

  /**
   * A thread asks to start partitions at its positions. Its own repartition topic resumes at once (on Kafka: on the
   * embedded log the thread reads those itself and never asks, `direct-read.ts`); a shared input
   * once every version reading it asked, at the furthest position (the live version never waits for a replay: the
   * threads behind catch up with their own reads).
   */
  private resume(v: VersionThread, positions: readonly { topic: string; partition: number; offset: number }[]): void {
    for (const p of positions) {
      const key = tpKey(p.topic, p.partition);
      if (!this.assigned.has(key)) continue;
      if (v.internal.has(p.topic)) {
        this.prevEnd.set(key, p.offset);
        this.receivers.set(key, [v]);
        this.consumer?.resume([p]);
        continue;
      }
      const readers = this.versions.filter((x) => x.reads(p.topic) && !x.finished);
      const at = this.prevEnd.get(key);
      if (at !== undefined) {
        // already started for the others: this one joins, and catches up from its position with its own reads
        const to = this.receivers.get(key) ?? [];
        if (!to.includes(v)) this.receivers.set(key, [...to, v]);
        void v.call({ op: 'started', topic: p.topic, partition: p.partition, offset: at });
        continue;
      }
      const asked = this.requested.get(key) ?? new Map<VersionThread, number>();
      asked.set(v, p.offset);
      this.requested.set(key, asked);
      if (!readers.every((x) => asked.has(x))) continue;
      const start = Math.max(...readers.map((x) => asked.get(x)!));
      this.prevEnd.set(key, start);
      this.receivers.set(key, readers);
      for (const x of readers) void x.call({ op: 'started', topic: p.topic, partition: p.partition, offset: start });
      this.consumer?.resume([{ topic: p.topic, partition: p.partition, offset: start }]);
    }
  }

  private onMessage(v: VersionThread, m: ThreadMessage): void {
    if (m.t === 'resume') this.resume(v, m.positions);
    else if (m.t === 'pause')
      // only partitions no other version reads (its repartition topics); a shared input keeps flowing for the others
      this.consumer?.pause(m.partitions.filter((tp) => v.internal.has(tp.topic)));
    else if (m.t === 'done') this.ended(v);
    else relayEvent(this.opts, v, m);
  }

  /** A thread ended: a failure fails the host; a retirement or a stop stops it; idle ends it once all are. */
  private ended(v: VersionThread): void {
    for (const [key, to] of this.receivers)
      this.receivers.set(
        key,
        to.filter((x) => x !== v),
      );
    if (this.stopping) return;
    const r = v.result!;
    if (r.error !== undefined) this.fail(fromWire(r.error));
    else void this.stop(); // retired (`eddy retire`), or stopped on its own
  }
}
