/** The host's handle on one version thread (`version-thread.ts`): start, calls and replies, counters, end. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { fingerprintOf } from '../../replay/fingerprint.js';
import type { Topology } from '../../topology/graph.js';
import { packageRoot } from '../../util/paths.js';
import type { Readiness, RunnerOptions } from '../runner-types.js';
import { type RunCounters, RunStats } from '../stats.js';
import { internalSourceTopicsOf, sourceTopicsOf } from '../version.js';
import {
  fromWire,
  type HostCall,
  type IdleReply,
  type ThreadInit,
  type ThreadMessage,
  type ThreadsOptions,
  type WireError,
} from './protocol.js';

/** One hosted version, as the worker, the run recorder and the CLI read it. */
export interface HostedVersion {
  readonly topology: Topology;
  readonly stats: RunStats;
  readonly fingerprint: string;
  /** Topics its tasks read: external inputs and its own repartition topics. */
  readonly sourceTopics: readonly string[];
}

/**
 * A version thread's young generation, MB. A batch's records, decoded values and outputs die young; with V8's
 * default (16 MB) each thread's scavenges promoted many of them and the parallel GC helpers worked ~15 % of the run.
 * Measured on 1M flights, v1 + v2: 64 MB cut the process's CPU time from 53–55 s to 45 s, wall from 29–30 s to 25 s.
 */
export const THREAD_YOUNG_GENERATION_MB = 64;

/**
 * The compiled thread entry: beside this module when it runs compiled, else (this module run from its TypeScript
 * source, as under vitest) the one in the package's `dist/` (`npm run build`).
 */
function threadEntry(): URL {
  const beside = new URL('./version-thread.js', import.meta.url);
  if (existsSync(fileURLToPath(beside))) return beside;
  return pathToFileURL(join(packageRoot(import.meta.url), 'dist', 'src', 'runtime', 'threads', 'version-thread.js'));
}

/** One version thread, seen from the host. */
export class VersionThread implements HostedVersion {
  readonly stats: RunStats;
  readonly fingerprint: string;
  readonly sourceTopics: readonly string[];
  readonly internal: ReadonlySet<string>;
  readiness?: Readiness;
  catchUpRecords = 0;
  /** Records of its repartition topics the thread read itself (`DirectReads`). */
  directRecords = 0;
  finished = false;
  /** Batches handed to the thread and not yet processed (see `ThreadedRunner`). */
  readonly inFlight = new Set<Promise<unknown>>();
  result?: { error?: WireError; retired: readonly number[] };
  private last?: RunCounters;
  private worker?: Worker;
  private nextId = 0;
  private readonly calls = new Map<number, { resolve: (v?: IdleReply) => void; reject: (e: unknown) => void }>();
  private ended!: () => void;
  /** Resolves when the thread sent `done` (or exited). */
  readonly done = new Promise<void>((resolve) => {
    this.ended = resolve;
  });

  constructor(
    readonly topology: Topology,
    o: RunnerOptions,
    processingGuarantee: 'exactly-once' | 'at-least-once',
  ) {
    this.stats = o.stats?.(topology.version) ?? new RunStats();
    this.fingerprint = fingerprintOf(topology, { processingGuarantee }).hash;
    this.sourceTopics = sourceTopicsOf(topology);
    this.internal = internalSourceTopicsOf(topology);
  }

  start(init: ThreadInit, onMessage: (t: VersionThread, m: ThreadMessage) => void): void {
    const w = new Worker(threadEntry(), {
      workerData: init,
      resourceLimits: { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB },
    });
    this.worker = w;
    w.on('message', (m: ThreadMessage) => {
      if (m.t === 'reply') {
        const c = this.calls.get(m.id);
        this.calls.delete(m.id);
        if (m.error === undefined) c?.resolve(m.value);
        else c?.reject(fromWire(m.error));
        return;
      }
      if (m.t === 'status') {
        this.stats.addGrowth(this.last, m.stats);
        this.last = m.stats;
        this.readiness = m.readiness;
        this.catchUpRecords = m.catchUpRecords;
        this.directRecords = m.directRecords;
      }
      if (m.t === 'done') this.end(m);
      onMessage(this, m);
    });
    // A thread that dies without its `done` (an uncaught error, an exit) ends as failed.
    const died = (error: WireError) => {
      if (this.finished) return;
      const m: ThreadMessage = { t: 'done', error, retired: [] };
      this.end(m);
      onMessage(this, m);
    };
    w.on('error', (err) => died({ name: err.name, message: err.message, stack: err.stack }));
    w.on('exit', (code) =>
      died({ name: 'Error', message: `the thread of ${this.topology.groupId} exited (code ${code}) before it ended` }),
    );
  }

  private end(r: { error?: WireError; retired: readonly number[] }): void {
    if (this.finished) return;
    this.finished = true;
    this.result = { error: r.error, retired: r.retired };
    for (const c of this.calls.values()) c.resolve(); // its partitions are revoked: nothing of theirs is in flight
    this.calls.clear();
    this.ended();
  }

  /** Reads `topic` (an input or one of its repartition topics). */
  reads(topic: string): boolean {
    return this.sourceTopics.includes(topic);
  }

  call(call: HostCall): Promise<IdleReply | undefined> {
    if (this.finished || this.worker === undefined) return Promise.resolve(undefined);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject });
      this.worker!.postMessage({ t: 'call', id, call });
    });
  }

  post(m: { t: 'run' } | { t: 'stop'; idle?: boolean }): void {
    if (!this.finished) this.worker?.postMessage(m);
  }

  async terminate(): Promise<void> {
    await this.worker?.terminate();
  }
}

/**
 * Hands a thread's event to the runner's callbacks (`RunnerOptions.onBatch`, `onRestore`, ...), as a
 * `TopologyRunner` calls them; kafkajs log lines go to `ThreadsOptions.kafkaLogSink` (default: stderr).
 */
export function relayEvent(
  o: RunnerOptions & { readonly threads: ThreadsOptions },
  v: VersionThread,
  m: ThreadMessage,
): void {
  switch (m.t) {
    case 'batch':
      o.onBatch?.(v.stats, m.info);
      break;
    case 'restore':
      o.onRestore?.(m.task, m.store, m.done, m.total);
      break;
    case 'warning':
      o.onWarning?.(m.event, m.message);
      break;
    case 'quarantine':
      o.onQuarantine?.(m.q);
      break;
    case 'assigned':
      o.onAssigned?.(m.tasks, m.partitions);
      break;
    case 'revoked':
      o.onRevoked?.(m.tasks, m.partitions);
      break;
    case 'restored':
      o.onRestored?.(m.task);
      break;
    case 'kafka-log':
      if (o.threads.kafkaLogSink !== undefined) o.threads.kafkaLogSink(m.line);
      else process.stderr.write(`${JSON.stringify(m.line)}\n`);
      break;
  }
}
