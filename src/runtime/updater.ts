/**
 * The state updater (Kafka Streams' `DefaultStateUpdater`, KIP-869): opens newly assigned tasks and restores their
 * stores in the background, off the rebalance path. `onAssigned` only hands tasks here and returns, so heartbeats
 * and the other tasks' processing go on while stores restore; a revoked task is dropped between two steps.
 *
 * Order: every new task is opened first (fencing its previous owner and reading its positions, both quick), so no
 * previous owner writes on while the long restores run; then stores restore round-robin, `stepRecords` changelog
 * records at a time.
 */
import type { Task } from './task.js';

/** Callbacks of the updater, called outside the task's lock. */
export interface UpdaterHandlers {
  /** The task's stores are restored: it may process. */
  onRestored(task: Task): void;
  /** Opening or restoring failed (the runner fails: the task's state is unknown). */
  onError(task: Task, err: unknown): void;
}

export class StateUpdater {
  private readonly queue: Task[] = [];
  private loop?: Promise<void>;
  private stopped = false;

  constructor(
    private readonly h: UpdaterHandlers,
    /** Changelog records restored per step of one task (default 20,000). */
    private readonly stepRecords = 20_000,
  ) {}

  /** True when no task is waiting to be opened or restored. */
  get idle(): boolean {
    return this.queue.length === 0 && this.loop === undefined;
  }

  /** Tasks still opening or restoring. */
  get pending(): readonly Task[] {
    return this.queue;
  }

  /** Queues tasks (state `created`) and starts the loop if it is not running. */
  add(tasks: readonly Task[]): void {
    if (this.stopped) return;
    for (const t of tasks) if (!this.queue.includes(t)) this.queue.push(t);
    this.loop ??= this.run().finally(() => {
      this.loop = undefined;
      if (this.queue.length > 0 && !this.stopped) this.add([]);
    });
  }

  /** Drops a task (revoked); a step in flight finishes first under the task's lock. */
  remove(task: Task): void {
    const i = this.queue.indexOf(task);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** Stops after the step in flight; resolves when the loop ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.length = 0;
    await this.loop;
  }

  private async run(): Promise<void> {
    let turn = 0;
    while (this.queue.length > 0 && !this.stopped) {
      const task = this.queue.find((t) => t.state === 'created') ?? this.queue[turn++ % this.queue.length];
      let restored = false;
      try {
        await task.lock.run(async () => {
          if (task.state === 'created') {
            await task.open();
          } else if (task.state === 'restoring') {
            restored = await task.restoreStep(this.stepRecords);
          } else restored = task.state === 'running';
        });
      } catch (err) {
        this.remove(task);
        if (task.state !== 'closed') this.h.onError(task, err);
        continue;
      }
      if (!this.queue.includes(task)) continue; // revoked meanwhile
      if (task.state === 'running' || restored) {
        this.remove(task);
        this.h.onRestored(task);
      } else if (task.state === 'closed') this.remove(task);
    }
  }
}
