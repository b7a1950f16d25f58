/**
 * Writing run records (see `./record.ts`) for a `TopologyRunner`: one record per version it runs, written at the
 * start (after setup: the fingerprint is checked and the topics exist), every `RUN_HEARTBEAT_MS`, every
 * `RUN_PROGRESS_MS` while its counters move (so a killed run's record counts what it did up to a few seconds before
 * the kill), and at the end with the exit reason. Run-record trouble never stops processing: it is reported through
 * `onWarning`.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { EddyError } from '../errors.js';
import type { Log } from '../log/contract.js';
import { tpKey } from '../log/contract.js';
import type { RunStats } from '../runtime/stats.js';
import type { Topology } from '../topology/graph.js';
import {
  ensureRunsTopic,
  RUN_HEARTBEAT_MS,
  RUNS_FORMAT,
  type RunExit,
  type RunKind,
  type RunRecord,
  writeRunRecord,
} from './record.js';

/** While records flow, run records are rewritten this often (ms): what a SIGKILLed run's record is behind by. */
export const RUN_PROGRESS_MS = 5_000;

/** What a recorder reads of a runner (a `TopologyRunner`, or a worker's current one). */
export interface RecordedVersions {
  readonly versions: readonly {
    readonly topology: Topology;
    readonly stats: RunStats;
    readonly fingerprint?: string;
  }[];
  /** Versions the run stopped running because they were retired (`TopologyRunner.retiredVersions`). */
  readonly retiredVersions?: readonly number[];
}

/** The topics of `t` by role, for `RunStats.health`. */
export function healthTopicsOf(t: Topology): { sources: string[]; outputs: string[]; deadLetterTopic: string } {
  const all = [...t.topics.values()];
  return {
    sources: all.filter((x) => x.role === 'source').map((x) => x.name),
    outputs: all.filter((x) => x.role === 'output').map((x) => x.name),
    deadLetterTopic: t.deadLetterTopic,
  };
}

/** Committed input positions of a version's consumer group, `<topic>:<partition>` → next offset to read. */
async function positionsOf(log: Log, t: Topology): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const info of t.topics.values()) {
    if (info.role !== 'source') continue;
    for (const [p, c] of await log.committedOffsets(t.groupId, info.name)) out[tpKey(info.name, p)] = c.offset;
  }
  return out;
}

/** The code and message of an error, for a record. */
function describeError(err: unknown): { code: string; message: string } {
  if (err instanceof EddyError) return { code: err.code, message: err.message };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** Writes the run records of one run (one per version). Create with `RunRecorder.start`. */
export class RunRecorder {
  private readonly errors: { code: string; message: string; atMs: number }[] = [];
  private signalName?: string;
  private timer?: NodeJS.Timeout;
  private finished = false;
  private writing: Promise<void> = Promise.resolve();
  /** When the records were last written, and the records in (all versions) they counted. */
  private lastWriteMs = 0;
  private lastRecordsIn = -1;

  private constructor(
    private readonly log: Log,
    private readonly runner: () => RecordedVersions,
    private readonly base: Map<number, Omit<RunRecord, 'updatedMs' | 'health' | 'errors'>>,
    private readonly onWarning: (message: string) => void,
    private readonly kind: RunKind,
  ) {}

  /**
   * Writes the start records of the versions `runner()` runs (call after `runner.setup()`), and rewrites them every
   * `heartbeatMs`. `runner` is read each time (a worker replaces its runner after a lost broker). Never throws:
   * trouble writing is reported to `onWarning` and the run goes on without records.
   */
  static async start(
    log: Log,
    runner: () => RecordedVersions,
    o: {
      kind: RunKind;
      onWarning?: (message: string) => void;
      heartbeatMs?: number;
      /** How often to rewrite while the counters move, ms (default `RUN_PROGRESS_MS`). */
      progressMs?: number;
      nowMs?: number;
    },
  ): Promise<RunRecorder> {
    const warn = o.onWarning ?? ((m: string) => process.stderr.write(`eddy: warning: ${m}\n`));
    const startMs = o.nowMs ?? Date.now();
    const base = new Map<number, Omit<RunRecord, 'updatedMs' | 'health' | 'errors'>>();
    const rec = new RunRecorder(log, runner, base, warn, o.kind);
    try {
      await ensureRunsTopic(log);
      await rec.addBases(runner().versions, startMs);
      await rec.write(undefined);
    } catch (err) {
      warn(`cannot write run records to eddy.meta.runs: ${describeError(err).message}`);
    }
    const heartbeatMs = o.heartbeatMs ?? RUN_HEARTBEAT_MS;
    rec.timer = setInterval(
      () => {
        if (rec.moved() || Date.now() - rec.lastWriteMs >= heartbeatMs) void rec.enqueue(undefined);
      },
      Math.min(heartbeatMs, o.progressMs ?? RUN_PROGRESS_MS),
    );
    rec.timer.unref();
    return rec;
  }

  private async addBases(versions: RecordedVersions['versions'], startMs: number): Promise<void> {
    const suffix = randomBytes(3).toString('hex');
    for (const v of versions) {
      const t = v.topology;
      this.base.set(t.version, {
        format: RUNS_FORMAT,
        runId: `${t.groupId}@${new Date(startMs).toISOString()}#${suffix}`,
        kind: this.kind,
        topology: t.name,
        version: t.version,
        fingerprint: v.fingerprint,
        host: hostname(),
        pid: process.pid,
        startMs,
        positionsAtStart: await positionsOf(this.log, t),
        recordsIn: {},
        recordsOut: {},
        deadLetters: {},
        late: {},
        restoredRecords: 0,
        commits: 0,
        aborts: 0,
      });
    }
  }

  /**
   * Writes the start records of versions the run starts running while it goes on (a worker that found them in the
   * versions registry, src/runtime/follow.ts); later writes include them. Versions recorded already are skipped.
   * Never throws.
   */
  async startVersions(versions: RecordedVersions['versions'], nowMs = Date.now()): Promise<void> {
    const starting = versions.filter((v) => !this.base.has(v.topology.version));
    if (starting.length === 0 || this.finished) return;
    this.writing = this.writing.then(async () => {
      try {
        await this.addBases(starting, nowMs);
        await this.writeVersions(starting, undefined);
      } catch (err) {
        this.onWarning(`cannot write run records to eddy.meta.runs: ${describeError(err).message}`);
      }
    });
    await this.writing;
  }

  /** The run ids, by version. */
  get runIds(): ReadonlyMap<number, string> {
    return new Map([...this.base].map(([v, b]) => [v, b.runId]));
  }

  /** Notes the signal that stopped the run (the exit reason becomes `signal`). */
  signal(name: string): void {
    this.signalName ??= name;
  }

  /** Notes an error met along the way (the run may go on, e.g. a worker riding out a lost broker). */
  error(err: unknown, nowMs = Date.now()): void {
    this.errors.push({ ...describeError(err), atMs: nowMs });
  }

  /**
   * Writes the end records: exit `error` when `err` is given (with its code), else `signal` when one was noted, else
   * `idle` when `idle`, else `stopped`. Safe to call twice (the second call does nothing). Never throws.
   */
  async finish(o: { error?: unknown; idle?: boolean } = {}): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.timer);
    let exit: RunExit;
    if (o.error !== undefined) {
      this.error(o.error);
      exit = { reason: 'error', ...describeError(o.error) };
    } else if (this.signalName !== undefined) exit = { reason: 'signal', signal: this.signalName };
    else exit = { reason: o.idle ? 'idle' : 'stopped' };
    await this.enqueue(exit);
  }

  /**
   * Writes the end records (exit `retired`) of versions this run stopped running while the run goes on with others (a
   * worker whose version was retired); later writes skip them. Never throws.
   */
  async endVersions(versions: RecordedVersions['versions']): Promise<void> {
    const ending = versions.filter((v) => this.base.has(v.topology.version));
    if (ending.length === 0 || this.finished) return;
    const exit: RunExit = { reason: 'retired' };
    this.writing = this.writing.then(async () => {
      try {
        await this.writeVersions(ending, exit);
      } catch (err) {
        this.onWarning(`cannot write run records to eddy.meta.runs: ${describeError(err).message}`);
      }
      for (const v of ending) this.base.delete(v.topology.version);
    });
    await this.writing;
  }

  /** Records in, over every version the runner runs now. */
  private recordsIn(): number {
    let n = 0;
    for (const v of this.runner().versions) for (const c of v.stats.recordsIn.values()) n += c;
    return n;
  }

  /** Whether the counters moved since the last write. */
  private moved(): boolean {
    return this.recordsIn() !== this.lastRecordsIn;
  }

  private enqueue(exit: RunExit | undefined): Promise<void> {
    this.writing = this.writing.then(() =>
      this.write(exit).catch((err) =>
        this.onWarning(`cannot write run records to eddy.meta.runs: ${describeError(err).message}`),
      ),
    );
    return this.writing;
  }

  private async write(exit: RunExit | undefined): Promise<void> {
    if (this.finished && exit === undefined) return;
    this.lastWriteMs = Date.now();
    this.lastRecordsIn = this.recordsIn();
    await this.writeVersions(this.runner().versions, exit);
  }

  private async writeVersions(versions: RecordedVersions['versions'], exit: RunExit | undefined): Promise<void> {
    const nowMs = Date.now();
    for (const v of versions) {
      const b = this.base.get(v.topology.version);
      if (b === undefined) continue;
      const s = v.stats;
      const rec: RunRecord = {
        ...b,
        updatedMs: nowMs,
        ...(exit === undefined ? {} : { endMs: nowMs, exit }),
        positionsAtEnd: await positionsOf(this.log, v.topology),
        recordsIn: Object.fromEntries(s.recordsIn),
        recordsOut: Object.fromEntries(s.recordsOut),
        deadLetters: Object.fromEntries(s.deadLetters),
        late: Object.fromEntries(s.lateBy),
        redrivenSkipped: Object.fromEntries(s.redrivenSkipped),
        restoredRecords: s.restoredRecords,
        commits: s.commits,
        aborts: s.aborts,
        errors: [...this.errors],
        health: s.health(healthTopicsOf(v.topology), 'run', nowMs),
      };
      await writeRunRecord(this.log, rec);
    }
  }
}

/**
 * Runs `body` (a runner's `run()`) between the start and end records of a run: the exit reason is the signal seen
 * (SIGINT/SIGTERM), the error `body` threw (rethrown), or `idle`/`stopped`. Call after the runner's `setup()`.
 */
export async function recordedRun<T>(
  log: Log,
  runner: RecordedVersions,
  o: { kind: RunKind; idle: boolean; onWarning?: (message: string) => void },
  body: () => Promise<T>,
): Promise<T> {
  const rec = await RunRecorder.start(log, () => runner, o);
  const onSignal = (sig: NodeJS.Signals) => rec.signal(sig);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const r = await body();
    const retired = runner.retiredVersions ?? [];
    await rec.endVersions(runner.versions.filter((v) => retired.includes(v.topology.version)));
    await rec.finish({ idle: o.idle && retired.length === 0 });
    return r;
  } catch (err) {
    await rec.finish({ error: err });
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
