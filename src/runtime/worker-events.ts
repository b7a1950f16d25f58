/**
 * What a worker logs of its runner's life (structured JSON lines, src/runtime/logger.ts): each committed batch (debug),
 * restore progress (at most one line per store of a task per `RESTORE_LOG_INTERVAL_MS`), assignments, restored tasks,
 * revocations, quarantined stores and warnings. Split from src/runtime/worker.ts; the worker passes these callbacks to
 * every runner it creates.
 */
import type { TopicPartition } from '../log/contract.js';
import { tpKey } from '../log/contract.js';
import { describeQuarantine } from '../state/task-stores.js';
import type { Logger } from './logger.js';
import type { WorkerMetrics } from './metrics.js';
import type { Runner, RunnerOptions } from './runner-types.js';

/** Minimum ms between two `restore` progress lines of one store of one task. */
const RESTORE_LOG_INTERVAL_MS = 1_000;

/** What the callbacks read and keep of their worker. */
export interface WorkerEventsState {
  readonly log: Logger;
  /** The worker's current runner (a new one after each restart). */
  runner(): Runner;
  metrics(): WorkerMetrics;
  /** Assigned input partitions, by `tpKey` (read by the lag metric). */
  readonly assigned: Map<string, TopicPartition>;
  /** When each `<task>/<store>` restore line was last logged, ms since epoch. */
  readonly restoreLoggedAt: Map<string, number>;
  /** Called after each committed batch (the worker's reconnect bound counts from the last one). */
  onProgress(): void;
}

/** The runner callbacks of a worker: log lines, batch metrics, and the assigned partitions. */
export function workerRunnerEvents(
  w: WorkerEventsState,
): Pick<
  RunnerOptions,
  'onWarning' | 'onQuarantine' | 'onBatch' | 'onRestore' | 'onAssigned' | 'onRestored' | 'onRevoked'
> {
  return {
    onWarning: (event, message) => w.log.warn({ event }, message),
    onQuarantine: (q) => w.log.warn({ event: 'quarantine', ...q }, describeQuarantine(q)),
    onBatch: (stats, b) => {
      w.onProgress();
      w.metrics().observeBatch(b);
      w.log.debug(
        {
          event: 'commit',
          task: b.task,
          topic: b.topic,
          partition: b.partition,
          records: b.records,
          durationMs: Math.round(b.durationMs * 10) / 10,
          commits: stats.commits,
        },
        'batch committed',
      );
    },
    onRestore: (task, store, done, total) => {
      const k = `${task}/${store}`;
      const now = Date.now();
      if (done < total && now - (w.restoreLoggedAt.get(k) ?? 0) < RESTORE_LOG_INTERVAL_MS) return;
      w.restoreLoggedAt.set(k, now);
      w.log.info(
        { event: 'restore', task, store, restored: done, total },
        `restoring ${store} of task ${task}: ${done}/${total}`,
      );
    },
    onAssigned: (tasks, tps) => {
      for (const tp of tps) w.assigned.set(tpKey(tp.topic, tp.partition), tp);
      w.log.info(
        {
          event: 'assigned',
          tasks,
          partitions: tps.map((tp) => tpKey(tp.topic, tp.partition)),
          rebalances: w.runner().stats.rebalances,
        },
        `assigned ${tasks.length} task(s), restoring in the background: ${tasks.join(', ') || '(none new)'}`,
      );
    },
    onRestored: (task) => {
      // Changelog records restored per store into the task, now processing.
      const restored: Record<string, number> = {};
      for (const t of w.runner().readiness().tasks)
        if (t.task === task) for (const s of t.stores) restored[s.store] = (restored[s.store] ?? 0) + s.restored;
      w.log.info({ event: 'restored', task, restored }, `task ${task} restored; processing`);
    },
    onRevoked: (tasks, tps) => {
      for (const tp of tps) w.assigned.delete(tpKey(tp.topic, tp.partition));
      const shutdown = w.runner().phase === 'stopping';
      w.log.info(
        {
          event: 'revoked',
          tasks,
          partitions: tps.map((tp) => tpKey(tp.topic, tp.partition)),
          shutdown,
          rebalances: w.runner().stats.rebalances,
        },
        `revoked ${tasks.length} task(s)${shutdown ? ' on shutdown' : ''}: ${tasks.join(', ')}`,
      );
    },
  };
}
