import { RUNS_FORMAT, type RunRecord } from '../../src/runs/record.js';

/**
 * A run record of `delays` v1 written by hand, as a worker process on `host` with `pid` writes them: empty counters,
 * started one heartbeat (`startMs`) before its last rewrite `updatedMs` unless given. `end`: the run ended then, for
 * `exit`.
 */
export function runRecord(o: {
  runId?: string;
  host: string;
  pid: number;
  startMs?: number;
  updatedMs: number;
  end?: { atMs: number; reason: 'idle' | 'retired' };
}): RunRecord {
  return {
    format: RUNS_FORMAT,
    runId: o.runId ?? 'delays.v1@test',
    kind: 'worker',
    topology: 'delays',
    version: 1,
    host: o.host,
    pid: o.pid,
    startMs: o.startMs ?? o.updatedMs,
    updatedMs: o.updatedMs,
    ...(o.end === undefined ? {} : { endMs: o.end.atMs, exit: { reason: o.end.reason } }),
    positionsAtStart: {},
    recordsIn: {},
    recordsOut: {},
    deadLetters: {},
    late: {},
    restoredRecords: 0,
    commits: 0,
    aborts: 0,
    errors: [],
    health: {} as RunRecord['health'],
  };
}
