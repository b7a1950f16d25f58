/**
 * `runWorker`: a worker as a process, with its signals and exit code (what `eddy worker` runs).
 *
 * Shutdown: on SIGTERM or SIGINT the worker stops fetching, lets the batch in flight finish and commit, closes its
 * stores, the HTTP server and the log, and exits 0; all of it within `shutdownTimeoutMs`, past which it exits 1.
 * A second signal exits at once with 128 + the signal number (130 for SIGINT, 143 for SIGTERM).
 */
import { constants } from 'node:os';
import { RunRecorder } from '../runs/recorder.js';
import { errorCode } from './logger.js';
import { Worker, type WorkerOptions } from './worker.js';

/** Options of `runWorker`: a worker's, plus shutdown. */
export interface RunWorkerOptions extends WorkerOptions {
  /** Bound on a graceful shutdown, from the first signal to the log closed; past it the exit code is 1. */
  readonly shutdownTimeoutMs: number;
  /** Closes what the caller opened (the log and registry), after the worker stopped. */
  readonly close?: () => Promise<void>;
  /** Exits the process at once (a second signal); default `process.exit`. */
  readonly exit?: (code: number) => never;
  /**
   * Shut down as on SIGTERM when the parent process goes away (checked every `PARENT_CHECK_MS`). `npx eddy worker` and
   * `npm exec` run the worker as a child of npm, and npm exits on SIGTERM without passing it on: without this the
   * worker would go on orphaned. The CLI sets it when npm started it (`npm_command` in the environment).
   */
  readonly followParent?: boolean;
}

/** How often a worker that follows its parent checks that the parent is still there, ms. */
export const PARENT_CHECK_MS = 500;

/**
 * Runs a worker until SIGTERM/SIGINT (or a task failure) and resolves with the process exit code: 0 after a clean
 * shutdown, 1 after a failure or when the shutdown outlasted `shutdownTimeoutMs`. A second signal calls `exit`
 * with 128 + its number at once.
 */
export async function runWorker(o: RunWorkerOptions): Promise<number> {
  const log = o.logger;
  const exit = o.exit ?? ((code: number) => process.exit(code));
  const worker = new Worker(o);
  let shuttingDown = false;
  let timer: NodeJS.Timeout | undefined;
  let timedOut: (code: number) => void = () => {};
  const deadline = new Promise<number>((resolve) => {
    timedOut = resolve;
  });

  const beginShutdown = (reason: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info(
      { event: 'shutdown', reason, timeoutMs: o.shutdownTimeoutMs },
      `shutting down (${reason}): finishing the batch in flight`,
    );
    timer = setTimeout(() => {
      log.error(
        {
          event: 'error',
          code: 'SHUTDOWN_TIMEOUT',
          timeoutMs: o.shutdownTimeoutMs,
          readiness: worker.runner.readiness(),
        },
        `shutdown did not finish within ${o.shutdownTimeoutMs} ms (worker.shutdownTimeoutMs); exiting with code 1. Uncommitted batches will be processed again by the next owner.`,
      );
      timedOut(1);
    }, o.shutdownTimeoutMs);
  };
  let runRecord: RunRecorder | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    runRecord?.signal(signal);
    if (shuttingDown) {
      const code = 128 + (constants.signals[signal] ?? 15);
      log.warn({ event: 'shutdown', signal, exitCode: code }, `second ${signal}: exiting at once with code ${code}`);
      exit(code);
      return;
    }
    beginShutdown(signal);
    void worker.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const parentPid = process.ppid;
  const parentWatch = o.followParent
    ? setInterval(() => {
        if (process.ppid === parentPid || shuttingDown) return;
        log.info(
          { event: 'parent-exited', parentPid },
          `the parent process ${parentPid} exited (npm does not pass SIGTERM on): shutting down as on SIGTERM`,
        );
        onSignal('SIGTERM');
      }, PARENT_CHECK_MS)
    : undefined;
  parentWatch?.unref();

  const main = (async (): Promise<number> => {
    let code = 0;
    try {
      await worker.start();
      runRecord = await RunRecorder.start(o.log, () => worker.runner, {
        kind: 'worker',
        onWarning: (m) => log.warn({ event: 'run-record' }, m),
      });
      worker.onRetired = (versions) => runRecord!.endVersions(versions);
      worker.onStarted = (versions) => runRecord!.startVersions(versions);
      await worker.done;
    } catch (err) {
      code = 1;
      await runRecord?.finish({ error: err });
      log.error(
        { event: 'error', code: errorCode(err), err },
        `worker failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      beginShutdown('failure');
      await worker.stop();
    }
    try {
      await runRecord?.finish();
      await worker.close();
      await o.close?.();
    } catch (err) {
      code = 1;
      log.error(
        { event: 'error', code: errorCode(err), err },
        `closing failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    log.info({ event: 'stopped', exitCode: code, stats: worker.runner.stats.toJSON() }, `stopped (exit code ${code})`);
    return code;
  })();

  try {
    return await Promise.race([main, deadline]);
  } finally {
    clearTimeout(timer);
    clearInterval(parentWatch);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
