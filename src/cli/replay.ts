/**
 * `eddy replay <topology> --version N`: runs a version from the start of its inputs (or from a time) into its own
 * outputs, stores and changelogs until it reaches the inputs' end, with a progress bar on a terminal.
 */
import cliProgress from 'cli-progress';
import type { EddyConfig } from '../config/index.js';
import { ConfigError } from '../errors.js';
import { PositionsBackwardError } from '../replay/errors.js';
import { checkVersion, getVersion, recordPositions, setVersionState } from '../replay/registry.js';
import {
  commitPositions,
  planReplay,
  positionsAtTime,
  refuseConcurrentRun,
  resetReplay,
  TruncatedInputError,
  truncatedInputs,
} from '../replay/replay.js';
import { describePlan } from '../replay/retire.js';
import { inputLag } from '../replay/status.js';
import { recordedRun } from '../runs/recorder.js';
import { TopologyRunner } from '../runtime/runner.js';
import type { Topology } from '../topology/graph.js';
import { replayReaderGroupId } from '../topology/names.js';
import { type Backend, withBackend } from './env.js';
import { out } from './format.js';
import { loadTopology, loadVersions } from './topologies.js';

export interface ReplayFlags {
  version: number;
  from?: string;
  reset?: boolean;
  allowTruncatedInput?: boolean;
  progress: boolean;
}

function parseTime(raw: string): number {
  const ms = Date.parse(raw);
  if (!/^\d{4}-\d{2}-\d{2}/.test(raw) || Number.isNaN(ms))
    throw new ConfigError(`--from ${raw} is not an ISO-8601 time; use e.g. 2008-01-01T00:00:00Z`);
  return ms;
}

/** `eddy replay <topology> --version N`. */
export async function cmdReplay(config: EddyConfig, name: string, o: ReplayFlags): Promise<void> {
  const fromMs = o.from === undefined ? undefined : parseTime(o.from);
  const versions = await loadVersions(name, config.topologies);
  const t = await loadTopology(name, config.topologies, o.version);
  const guarantee = config.worker.processingGuarantee;
  await withBackend(config, async (b) => {
    // Before any write: no other process runs it, the fingerprint (records a new version as replaying), the
    // retention and the outputs checks.
    await refuseConcurrentRun(b.log, t, 'replay');
    const rec = await checkVersion(b.log, t, {
      processingGuarantee: guarantee,
      knownVersions: versions.map((v) => v.version),
    });
    const from = fromMs === undefined ? undefined : await positionsAtTime(b.log, t, fromMs);
    const gone = await truncatedInputs(b.log, t, { from, fromStart: o.reset === true });
    if (gone.length > 0 && !o.allowTruncatedInput) throw new TruncatedInputError(t.name, t.version, gone);
    for (const g of gone)
      out(
        `warning: ${g.topic}:${g.partition}: ${g.goneRecords} record(s) deleted before this version read them (--allow-truncated-input)`,
      );
    const { plan, resuming } = await planReplay(b.log, t, rec, { stateDir: b.paths.stateDir, reset: o.reset === true });
    if (o.reset) {
      out(`${t.groupId}: --reset deletes:`);
      for (const line of describePlan(plan, { subjects: false })) out(`  ${line}`);
      await resetReplay(b.log, t, plan);
      out(`${t.groupId}: deleted`);
    } else if (resuming && from === undefined) out(`${t.groupId}: resuming from its committed positions`);
    if (from !== undefined) {
      await commitPositions(b.log, t, from);
      out(
        `${t.groupId}: positions set to the first records at or after ${new Date(fromMs!).toISOString()}: ${[...from].map(([tp, x]) => `${tp}=${x}`).join(' ')}`,
      );
    }
    await runToEnd(b, t, { guarantee, maxBatchRecords: config.worker.maxBatchRecords, progress: o.progress });
    if ((await getVersion(b.log, t.name, t.version)).state === 'retired') {
      out(`${t.groupId}: retired while replaying (eddy retire); stopped`);
      return;
    }
    const lag = await inputLag(b.log, t);
    try {
      await recordPositions(
        b.log,
        t.name,
        t.version,
        Object.fromEntries(lag.map((l) => [`${l.topic}:${l.partition}`, l.position])),
      );
    } catch (err) {
      if (!(err instanceof PositionsBackwardError)) throw err;
      process.stderr.write(`eddy: ${err.message}\n`);
    }
    const behind = lag.reduce((n, l) => n + l.lagRecords, 0);
    const now = await getVersion(b.log, t.name, t.version);
    if (behind === 0 && now.state === 'replaying') await setVersionState(b.log, t.name, t.version, 'caught-up');
    out(
      behind === 0
        ? `${t.groupId}: caught up (at the end of every input); compare with \`eddy diff ${name} <store> <A> ${t.version}\`, then \`eddy promote ${name} ${t.version}\``
        : `${t.groupId}: stopped ${behind} record(s) behind the inputs' end; run the replay again to continue`,
    );
  });
}

/** Runs `t` until idle with a progress bar on a terminal and a plain line per tenth of the way otherwise. */
async function runToEnd(
  b: Backend,
  t: Topology,
  o: { guarantee: EddyConfig['worker']['processingGuarantee']; maxBatchRecords: number; progress: boolean },
): Promise<void> {
  const sources = [...t.topics.values()].filter((x) => x.role === 'source').map((x) => x.name);
  const total = (await inputLag(b.log, t)).reduce((n, l) => n + l.lagRecords, 0);
  const tty = o.progress && process.stderr.isTTY === true;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format: `${t.groupId} [{bar}] {percentage}% | {value}/{total} records | {rate} rec/s | ETA {eta_formatted}`,
          stream: process.stderr,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const started = Date.now();
  let tenth = 0;
  const rate = (n: number) => Math.round(n / Math.max(0.001, (Date.now() - started) / 1000));
  const runner = new TopologyRunner(t, {
    log: b.log,
    registry: b.registry,
    stateDir: b.paths.stateDir,
    untilIdle: true,
    readerGroupId: replayReaderGroupId(t.name, t.version),
    maxBatchRecords: o.maxBatchRecords,
    processingGuarantee: o.guarantee,
    onBatch: (stats) => {
      const n = stats.totalIn(sources);
      if (bar !== undefined) bar.update(Math.min(n, total), { rate: rate(n) });
      else if (o.progress && total > 0 && Math.floor((10 * n) / total) > tenth) {
        tenth = Math.floor((10 * n) / total);
        out(
          `${t.groupId}: ${n}/${total} records (${Math.min(100, Math.round((100 * n) / total))}%), ${rate(n)} records/s`,
        );
      }
    },
  });
  await runner.setup();
  bar?.start(total, 0, { rate: 0 });
  const stop = () => void runner.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await recordedRun(b.log, runner, { kind: 'replay', idle: true }, () => runner.run());
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    bar?.stop();
  }
  const n = runner.stats.totalIn(sources);
  out(
    `${t.groupId}: replayed ${n} input records in ${((Date.now() - started) / 1000).toFixed(1)} s (${rate(n)} records/s)`,
  );
}
