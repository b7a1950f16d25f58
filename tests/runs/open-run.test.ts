/**
 * `isOpenRun` (src/runs/record.ts): the one rule for "a process still runs this version", used by `eddy retire` (it
 * waits for open runs) and by `eddy versions` (replay rates come from open runs only). No log: records by hand.
 */
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { isOpenRun, KILLED_AFTER_MS, RUN_HEARTBEAT_MS, type RunRecord } from '../../src/runs/record.js';
import { runRecord } from '../helpers/run-record.js';

const NOW_MS = 1_700_000_000_000;

function run(o: { host: string; pid: number; updatedMs: number; ended?: boolean }): RunRecord {
  return runRecord({
    ...o,
    startMs: o.updatedMs - RUN_HEARTBEAT_MS,
    end: o.ended ? { atMs: o.updatedMs, reason: 'idle' } : undefined,
  });
}

describe('isOpenRun', () => {
  const other = 'another-host.example';

  it('another host: open while rewritten within KILLED_AFTER_MS, not after', () => {
    expect(KILLED_AFTER_MS).toBe(3 * RUN_HEARTBEAT_MS);
    expect(isOpenRun(run({ host: other, pid: 1, updatedMs: NOW_MS }), NOW_MS)).toBe(true);
    expect(isOpenRun(run({ host: other, pid: 1, updatedMs: NOW_MS - KILLED_AFTER_MS }), NOW_MS)).toBe(true);
    expect(isOpenRun(run({ host: other, pid: 1, updatedMs: NOW_MS - KILLED_AFTER_MS - 1 }), NOW_MS)).toBe(false);
  });

  it('this host: open while its pid is alive and the record fresh; a stale record (pid reused?) or a gone pid is not', () => {
    const me = { host: hostname(), pid: process.pid };
    expect(isOpenRun(run({ ...me, updatedMs: NOW_MS }), NOW_MS)).toBe(true);
    expect(isOpenRun(run({ ...me, updatedMs: NOW_MS - KILLED_AFTER_MS - 1 }), NOW_MS)).toBe(false);
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    expect(isOpenRun(run({ host: hostname(), pid: gone, updatedMs: NOW_MS }), NOW_MS)).toBe(false);
  });

  it('an ended run is never open', () => {
    expect(isOpenRun(run({ host: other, pid: 1, updatedMs: NOW_MS, ended: true }), NOW_MS)).toBe(false);
    expect(isOpenRun(run({ host: hostname(), pid: process.pid, updatedMs: NOW_MS, ended: true }), NOW_MS)).toBe(false);
  });
});
