/**
 * A run's record follows its counters while records flow (every RUN_PROGRESS_MS), not only every RUN_HEARTBEAT_MS:
 * a run SIGKILLed a few seconds in shows what it processed, not `in 0 out 0`. Embedded log, a real RunRecorder over
 * a runner stand-in whose RunStats the test moves (the recorder reads nothing else of a runner).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildFlightDelays } from '../../examples/flight-delays/topology.js';
import { EmbeddedLog } from '../../src/log/embedded/index.js';
import { readRuns } from '../../src/runs/record.js';
import { RUN_PROGRESS_MS, RunRecorder } from '../../src/runs/recorder.js';
import { RunStats } from '../../src/runtime/stats.js';

const dir = mkdtempSync(join(tmpdir(), 'eddy-run-progress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('RunRecorder progress', () => {
  it('rewrites the record within RUN_PROGRESS_MS of the counters moving, without waiting for the heartbeat', async () => {
    const log = EmbeddedLog.open(join(dir, 'log.db'));
    try {
      const topology = buildFlightDelays();
      await log.createTopics([{ name: 'flights', partitions: 2 }]);
      const stats = new RunStats();
      const rec = await RunRecorder.start(log, () => ({ versions: [{ topology, stats }] }), {
        kind: 'run',
        heartbeatMs: 600_000,
        onWarning: (m) => {
          throw new Error(m);
        },
      });
      const inOf = async () => (await readRuns(log, topology.name))[0]?.recordsIn.flights ?? 0;
      expect(await inOf()).toBe(0);
      stats.in('flights', 10_000);
      const deadline = Date.now() + 4 * RUN_PROGRESS_MS;
      while ((await inOf()) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(await inOf()).toBe(10_000);
      await rec.finish({ idle: true });
    } finally {
      await log.close();
    }
  }, 60_000);
});
