/**
 * `eddy worker`: a long-running member of a topology's consumer group, with an HTTP server for liveness, readiness,
 * metrics and store views, and structured JSON logs.
 *
 * Shutdown: on SIGTERM or SIGINT the worker stops fetching, lets the batch in flight finish and commit, closes its
 * stores, the HTTP server and the log, and exits 0; all of it within `shutdownTimeoutMs`, past which it exits 1.
 * A second signal exits at once with 128 + the signal number (130 for SIGINT, 143 for SIGTERM). Nothing is lost
 * either way: whatever did not commit is processed again by the next owner of the partition, exactly once.
 *
 * Following the versions registry: when a version it runs is recorded `retired` (`eddy retire`; the runner reads the
 * versions registry every `RETIRED_CHECK_MS`), the worker stops its runner, ends that version's run record (exit
 * `retired`) and runs the other versions in a new runner from their committed positions. When a version its code
 * defines is recorded `caught-up`, `live` or `superseded` and not run here (`eddy replay` reached the end, `eddy
 * promote`; read every `FOLLOW_CHECK_MS`, src/runtime/follow.ts), it stops its runner the same way and runs that
 * version too, from its committed positions, with a run record of its own. It exits 0 only when no version is left to
 * run and none of its code's versions is live (a live one being replayed meanwhile is waited for).
 */
import { EddyError, UnknownStoreError } from '../errors.js';
import type { Log, TopicPartition } from '../log/contract.js';
import { liveVersionOf, readVersions } from '../replay/registry.js';
import { healthTopicsOf } from '../runs/recorder.js';
import type { SchemaRegistry } from '../schema/types.js';
import { workerSql } from '../sql/worker-sql.js';
import type { Topology } from '../topology/graph.js';
import { createRunner } from './create-runner.js';
import { FOLLOW_CHECK_MS, VersionFollower } from './follow.js';
import { type HttpServerHandle, startHttpServer } from './http.js';
import { readStore } from './inspect.js';
import { errorCode, type Logger } from './logger.js';
import { versionsLag, WorkerMetrics } from './metrics.js';
import { explainRecordsDeleted } from './migrated.js';
import { QUERY_LIMITS_DEFAULT } from './query-gate.js';
import type { Readiness } from './runner.js';
import type { Runner } from './runner-types.js';
import type { RunStats } from './stats.js';
import type { ProcessingGuarantee } from './task.js';
import { ThreadedRunner, type ThreadsOptions } from './threads/host.js';
import { workerRunnerEvents } from './worker-events.js';

/** Options of a worker. */
export interface WorkerOptions {
  readonly topology: Topology;
  /** Every version to run, in one runner (shared read); default `[topology]`. */
  readonly versions?: readonly Topology[];
  /** The version numbers the code defines, so that a refused fingerprint suggests a free one (default: those run). */
  readonly knownVersions?: readonly number[];
  /**
   * Every version the code defines that the worker starts when the registry records it `caught-up`, `live` or
   * `superseded` (src/runtime/follow.ts); default `versions` (a worker pinned to versions follows no other).
   */
  readonly definedVersions?: readonly Topology[];
  /** How often to read the versions registry for versions to start, ms; default `FOLLOW_CHECK_MS` (2 s). */
  readonly followCheckMs?: number;
  /** How long to ride out a lost broker without a committed batch before exiting 1, ms; default 180,000. */
  readonly maxReconnectMs?: number;
  readonly log: Log;
  readonly registry: SchemaRegistry;
  readonly stateDir: string;
  readonly logger: Logger;
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** Bearer token of every endpoint but /health and /ready (`http.token`). */
    readonly token?: string;
    /** Time limit of one `GET /sql` statement, ms (`http.sqlTimeoutMs`), counted from the request's arrival. */
    readonly sqlTimeoutMs?: number;
    /** Queries (`/sql`, `/stores`) running at once (`http.maxConcurrentQueries`). */
    readonly maxConcurrentQueries?: number;
    /** Queries waiting for a slot; beyond, 429 (`http.maxQueuedQueries`). */
    readonly maxQueuedQueries?: number;
  };
  readonly maxBatchRecords: number;
  /** Default `exactly-once`. */
  readonly processingGuarantee?: ProcessingGuarantee;
  /** Fields for the `start` log line (backend, data directory, ...). */
  readonly describe?: Record<string, unknown>;
  /**
   * Where version threads load the topology and open their connections: given, a worker running several versions
   * runs each in its own thread (`ThreadedRunner`; `worker.versionThreads`). Default: all in this thread.
   */
  readonly threads?: ThreadsOptions;
}

/** How often readiness is checked for `ready` / `not-ready` log lines. */
const READY_POLL_MS = 200;

/**
 * A worker: the runner, its metrics and its HTTP server. `start()` listens and sets up, then processes in the
 * background until `stop()`; `done` settles when processing ends (rejects if a task fails).
 */
export class Worker {
  private runnerNow: Runner;
  private readonly newRunner: () => Runner;
  /** The versions the worker runs now: those given, less those retired since (`eddy retire`). */
  private versionsNow: readonly Topology[];
  /**
   * Called when the worker stops running versions that were retired (before it runs the others again), with their
   * runtimes (topology, counters): `runWorker` ends their run records with exit `retired`.
   */
  onRetired?: (versions: Runner['versions']) => Promise<void>;
  /** Called when the worker starts running versions it found in the registry, with their runtimes (new run records). */
  onStarted?: (versions: Runner['versions']) => Promise<void>;
  private readonly follower: VersionFollower;
  /** Set when the runner was stopped to run more versions (`follow`); the supervisor then starts a new one. */
  private restartToFollow = false;
  private following = false;
  private followTimer?: NodeJS.Timeout;
  private readonly statsByVersion = new Map<number, RunStats>();
  private lastProgressMs = Date.now();
  private stopRequested = false;
  readonly metrics: WorkerMetrics;
  private readonly log: Logger;
  private readonly assigned = new Map<string, TopicPartition>();
  private readonly restoreLoggedAt = new Map<string, number>();
  private http?: HttpServerHandle;
  private running?: Promise<void>;
  private readyTimer?: NodeJS.Timeout;
  private wasReady = false;

  constructor(private readonly o: WorkerOptions) {
    this.log = o.logger;
    this.versionsNow = o.versions ?? [o.topology];
    this.follower = new VersionFollower({
      log: o.log,
      defined: o.definedVersions ?? this.versionsNow,
      processingGuarantee: o.processingGuarantee,
      onMismatch: (t, changes) =>
        this.log.warn(
          { event: 'follow', code: 'FINGERPRINT_MISMATCH', version: t.version, changes },
          `${t.groupId} is recorded in the versions registry with another fingerprint than this worker's code (${changes.join('; ')}): not running it`,
        ),
    });
    this.newRunner = () =>
      createRunner(this.versionsNow, {
        threads: o.threads,
        knownVersions: o.knownVersions,
        stats: (version) => this.statsByVersion.get(version),
        log: o.log,
        registry: o.registry,
        stateDir: o.stateDir,
        maxBatchRecords: o.maxBatchRecords,
        processingGuarantee: o.processingGuarantee,
        ...workerRunnerEvents({
          log: this.log,
          runner: () => this.runner,
          metrics: () => this.metrics,
          assigned: this.assigned,
          restoreLoggedAt: this.restoreLoggedAt,
          onProgress: () => {
            this.lastProgressMs = Date.now();
          },
        }),
      });
    this.runnerNow = this.newRunner();
    for (const v of this.runnerNow.versions) this.statsByVersion.set(v.topology.version, v.stats);
    // Every hosted version, from the current runner at each scrape (a new runner after each ridden-out broker loss).
    this.metrics = new WorkerMetrics({
      versions: () =>
        this.runner.versions.map((v) => ({
          name: v.topology.name,
          version: v.topology.version,
          stats: v.stats,
          stores: [...v.topology.stores.keys()],
          health: healthTopicsOf(v.topology),
        })),
      rebalances: () => this.runner.stats.rebalances,
      readiness: () => this.runner.readiness(),
      lag: () =>
        versionsLag(
          o.log,
          [...this.assigned.values()],
          this.runner.versions.map((v) => ({
            version: v.topology.version,
            groupId: v.topology.groupId,
            sourceTopics: v.sourceTopics,
          })),
        ),
    });
  }

  /** The runner of the current incarnation (a new one after each ridden-out broker loss). */
  get runner(): Runner {
    return this.runnerNow;
  }

  /** The HTTP server's address, once started. */
  get address(): HttpServerHandle | undefined {
    return this.http;
  }

  /** Listens, logs `start`, sets the runner up, and starts processing in the background (see `done`). */
  async start(): Promise<void> {
    const t = this.o.topology;
    this.http = await startHttpServer({
      host: this.o.http.host,
      port: this.o.http.port,
      handlers: {
        readiness: () => this.runner.readiness(),
        metrics: () => this.metrics.metrics(),
        metricsContentType: this.metrics.contentType,
        store: (name, q) => this.store(name, q),
        token: this.o.http.token,
        sql: (q, opts) => workerSql(this.o, q, { maxRows: opts.limit, timeoutMs: opts.timeoutMs }),
        queryTimeoutMs: this.o.http.sqlTimeoutMs,
        queryLimits: {
          maxConcurrent: this.o.http.maxConcurrentQueries ?? QUERY_LIMITS_DEFAULT.maxConcurrent,
          maxQueued: this.o.http.maxQueuedQueries ?? QUERY_LIMITS_DEFAULT.maxQueued,
        },
        onError: (err, req) =>
          this.log.error(
            { event: 'error', code: errorCode(err), err, method: req.method, url: req.url },
            'HTTP request failed',
          ),
      },
    });
    this.log.info(
      {
        event: 'start',
        topology: t.name,
        version: t.version,
        host: this.http.host,
        port: this.http.port,
        url: this.http.url,
        stateDir: this.o.stateDir,
        maxBatchRecords: this.o.maxBatchRecords,
        processingGuarantee: this.o.processingGuarantee ?? 'exactly-once',
        versions: this.versionsNow.map((v) => v.version),
        versionThreads: this.runner instanceof ThreadedRunner,
        ...this.o.describe,
      },
      `eddy worker ${t.groupId} started; http on ${this.http.url}`,
    );
    this.readyTimer = setInterval(() => this.checkReady(), READY_POLL_MS);
    this.readyTimer.unref();
    await this.runner.setup();
    this.running = this.supervise();
    this.followTimer = setInterval(() => void this.follow(), this.o.followCheckMs ?? FOLLOW_CHECK_MS);
    this.followTimer.unref();
  }

  /**
   * One look at the versions registry (src/runtime/follow.ts): moves versions run here that caught up to `caught-up`
   * (and `live` when none is), and stops the runner when a version to start was found (`supervise` starts a new one
   * with it). Registry trouble is a warning; the next look tries again.
   */
  private async follow(): Promise<void> {
    if (this.following || this.stopRequested || this.restartToFollow || this.runner.phase !== 'running') return;
    this.following = true;
    const runner = this.runner;
    try {
      for (const m of await this.follower.catchUp(this.versionsNow))
        this.log.info(
          { event: 'version-state', version: m.version, state: m.state },
          `${this.o.topology.name}.v${m.version} reached the end of its inputs: ${m.state}`,
        );
      const { start } = await this.follower.check(this.versionsNow);
      // (the runner may have been replaced meanwhile, e.g. after a retire: the next look decides again)
      if (start.length === 0 || this.stopRequested || this.restartToFollow || this.runner !== runner) return;
      this.restartToFollow = true;
      this.log.info(
        { event: 'follow', versions: start.map((t) => t.version) },
        `${start.map((t) => t.groupId).join(', ')} recorded caught-up, live or superseded in the versions registry: stopping processing to run it beside ${this.versionsNow.map((t) => t.groupId).join(', ')}`,
      );
      await runner.stop();
    } catch (err) {
      this.log.warn(
        { event: 'versions-registry', err },
        `cannot read the versions registry: ${err instanceof Error ? err.message : String(err)}`,
      );
    } finally {
      this.following = false;
    }
  }

  /** Settles when processing ends: after `stop()`, or rejects with a task's error. */
  get done(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Stops fetching; the batch in flight commits; tasks close. Resolves when processing has ended. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    await this.runner.stop();
    await this.running?.catch(() => undefined);
  }

  /** Closes the HTTP server (after `stop()`). Safe to call twice. */
  async close(): Promise<void> {
    clearInterval(this.readyTimer);
    clearInterval(this.followTimer);
    await this.http?.close();
  }

  /**
   * Runs the runner; on a recoverable error (the broker unreachable, a retriable Kafka error, a task fenced by a
   * newer owner) backs off, recreates the runner (producers, consumer, tasks; stores restore their changelog tail)
   * and carries on, until no batch has committed for `maxReconnectMs`.
   * When the runner stopped because versions it ran were retired (`eddy retire`), logs `retired` and runs the other
   * versions in a new runner (they go on from their committed positions; their stores restore only their changelog
   * tail), or returns (the worker exits 0) when none is left.
   */
  private async supervise(): Promise<void> {
    const boundMs = this.o.maxReconnectMs ?? 180_000;
    let attempt = 0;
    let failingSinceMs: number | undefined;
    for (;;) {
      try {
        const runner = this.runnerNow;
        await runner.run();
        if (this.stopRequested) return;
        if (runner.retiredVersions.length === 0 && !this.restartToFollow) return;
        if (runner.retiredVersions.length > 0) await this.dropRetired(runner);
        if (!(await this.runNext())) return;
      } catch (thrown) {
        // a repartition position below the log start another member committed past: a task that moved, not a loss
        const err = await explainRecordsDeleted(this.o.log, this.versionsNow, thrown);
        // the streak of failures starts again after any committed batch
        if (failingSinceMs === undefined || this.lastProgressMs > failingSinceMs) {
          failingSinceMs = Date.now();
          attempt = 0;
        }
        const quietMs = Date.now() - failingSinceMs;
        if (this.stopRequested && recoverable(err)) {
          // A task moved to another member (fenced) or the group was rebalancing as we stopped: nothing is lost, the
          // batch in flight is processed again by the partition's new owner. A clean stop, not a failure.
          this.log.info(
            { event: 'shutdown', code: errorCode(err) },
            `while shutting down: ${err instanceof Error ? err.message : String(err)}; the new owner of the task processes its batch in flight again`,
          );
          return;
        }
        if (this.stopRequested || !recoverable(err) || quietMs > boundMs) {
          if (recoverable(err) && !this.stopRequested)
            this.log.error(
              { event: 'error', code: 'RECONNECT_GAVE_UP', quietMs, maxReconnectMs: boundMs },
              `still failing after ${quietMs} ms without a committed batch (kafka.maxReconnectMs is ${boundMs}); giving up`,
            );
          throw err;
        }
        attempt++;
        const backoffMs = Math.min(10_000, 500 * 2 ** Math.min(attempt - 1, 5));
        this.log.warn(
          { event: 'reconnect', code: errorCode(err), attempt, backoffMs, quietMs, err },
          `${err instanceof Error ? err.message : String(err)}; restarting processing in ${backoffMs} ms (attempt ${attempt})`,
        );
        await new Promise((r) => setTimeout(r, backoffMs));
        if (this.stopRequested) return;
        this.runnerNow = this.newRunner();
        try {
          await this.runnerNow.setup();
        } catch (setupErr) {
          if (!recoverable(setupErr)) throw setupErr;
          // the next run() sets up again
        }
        if (this.stopRequested) return;
      }
    }
  }

  /**
   * After `runner` stopped for retired versions: ends their run records and drops them (and any other version
   * recorded retired meanwhile) from the versions to run.
   */
  private async dropRetired(runner: Runner): Promise<void> {
    // others retired meanwhile too (best effort: the runner's own finding is enough to go on)
    const snap = await readVersions(this.o.log).catch(() => undefined);
    const gone = (t: Topology) =>
      runner.retiredVersions.includes(t.version) || snap?.versions.get(t.groupId)?.state === 'retired';
    const retired = this.versionsNow.filter(gone);
    await this.onRetired?.(runner.versions.filter((v) => gone(v.topology)));
    this.versionsNow = this.versionsNow.filter((t) => !gone(t));
    this.log.info(
      { event: 'retired', versions: retired.map((t) => t.version), remaining: this.versionsNow.map((t) => t.version) },
      `${retired.map((t) => t.groupId).join(', ')} retired: stopped running it`,
    );
  }

  /**
   * After the runner stopped for retired versions or to follow the registry: adds the versions to start (`follow.ts`)
   * and sets a new runner up for all (each goes on from its committed positions; stores restore their changelog tail).
   * With none to run, waits while a version of the code is live but being replayed, and returns false (the worker
   * exits 0) when none is live. Also false when a stop was requested meanwhile.
   */
  private async runNext(): Promise<boolean> {
    this.restartToFollow = false;
    let start: readonly Topology[] = [];
    for (;;) {
      let waiting: readonly Topology[] = [];
      try {
        ({ start, waiting } = await this.follower.check(this.versionsNow));
      } catch (err) {
        // unknown: go on with what runs (a later look finds them); with nothing to run, look again
        if (this.versionsNow.length > 0) break;
        this.log.warn({ event: 'versions-registry', err }, `cannot read the versions registry: ${String(err)}`);
        waiting = this.o.definedVersions ?? [];
      }
      if (this.stopRequested) return false;
      if (this.versionsNow.length > 0 || start.length > 0) break;
      if (waiting.length === 0) {
        this.log.info({ event: 'retired', remaining: [] }, 'no version left to run and none live: stopping');
        return false;
      }
      await new Promise((r) => setTimeout(r, this.o.followCheckMs ?? FOLLOW_CHECK_MS));
    }
    const before = new Set(this.versionsNow.map((t) => t.version));
    this.versionsNow = [...this.versionsNow, ...start].sort((a, b) => a.version - b.version);
    this.log.info(
      { event: 'follow', started: start.map((t) => t.version), versions: this.versionsNow.map((t) => t.version) },
      `running ${this.versionsNow.map((t) => t.groupId).join(', ')} from their committed positions${start.length > 0 ? ` (started ${start.map((t) => t.groupId).join(', ')})` : ''}`,
    );
    this.runnerNow = this.newRunner();
    for (const v of this.runnerNow.versions)
      if (!this.statsByVersion.has(v.topology.version)) this.statsByVersion.set(v.topology.version, v.stats);
    await this.runnerNow.setup();
    await this.onStarted?.(this.runnerNow.versions.filter((v) => !before.has(v.topology.version)));
    return !this.stopRequested;
  }

  private checkReady(): void {
    const r: Readiness = this.runner.readiness();
    if (r.ready === this.wasReady) return;
    this.wasReady = r.ready;
    if (r.ready)
      this.log.info(
        { event: 'ready', tasks: r.tasks.map((x) => x.task) },
        `ready: ${r.tasks.length} task(s) processing`,
      );
    else this.log.info({ event: 'not-ready', phase: r.phase }, `not ready (${r.phase})`);
  }

  private async store(name: string, q: { key?: string; limit: number; version?: number }) {
    const versions = this.versionsNow;
    const wanted = q.version ?? liveVersionOf(await readVersions(this.o.log), this.o.topology.name);
    const t = versions.find((v) => v.version === wanted) ?? (q.version === undefined ? versions[0] : undefined);
    if (t === undefined)
      throw new EddyError(
        'UNKNOWN_VERSION',
        `this worker runs no version ${q.version} of ${this.o.topology.name} (it runs ${versions.map((v) => `v${v.version}`).join(', ')})`,
      );
    const info = t.stores.get(name);
    if (info === undefined) throw new UnknownStoreError(name, [...t.stores.keys()]);
    const rows = await readStore({
      stateDir: this.o.stateDir,
      topology: t,
      store: info,
      registry: this.o.registry,
      key: q.key,
    });
    return { rows: rows.slice(0, q.limit), truncated: rows.length > q.limit };
  }
}

/** Errors a worker rides out by restarting its runner: transient broker trouble, fencing, a task that moved. */
function recoverable(err: unknown): boolean {
  if (!(err instanceof EddyError)) return false;
  return err.retriable || err.code === 'PRODUCER_FENCED' || err.code === 'REBALANCE_IN_PROGRESS';
}
