/**
 * The differential test's scenarios, generated from one seed: operators eddy has today (`CORE`), and operators other
 * helpers are adding for issue 17 (`COMING`, run on eddy's side only once its DSL has them).
 */
import { interleave, REFS, rng, streamRecords, tableRecords, timestamps } from './generate.js';
import type { Scenario, ScenarioRecord } from './kstreams-runner.js';

/** Records per generated stream. */
const N = 500;

/** A window's parameters and a stream for them. */
function windowed(seed: number, p: { sizeMs: number; advanceMs: number; graceMs: number }): ScenarioRecord[] {
  const r = rng(seed);
  return streamRecords(r, 'in', timestamps(r, N, { stepMs: Math.ceil(p.advanceMs / 3), ...p }));
}

/** A stream and a table's updates interleaved; the table's keys are REFS but `r9` (never found). */
function streamAndTable(seed: number, tableTopic: string, tableKeys: readonly string[]): ScenarioRecord[] {
  const r = rng(seed);
  const ts = timestamps(r, N, { stepMs: 100, sizeMs: 1000, graceMs: 0 });
  const tts = timestamps(r, N / 4, { stepMs: 400, sizeMs: 1000, graceMs: 0 });
  const table = tableRecords(r, tableTopic, tts, tableKeys, {
    value: tableTopic === 'table' ? (j) => ({ t: `t${j}` }) : undefined,
  });
  return interleave(r, streamRecords(r, 'in', ts, { refs: true }), table);
}

/** One timeline split at random between two topics. */
function twoStreams(seed: number, o: { sizeMs: number; graceMs: number }): ScenarioRecord[] {
  const r = rng(seed);
  const ts = timestamps(r, N, { stepMs: 120, ...o });
  return streamRecords(r, 'in', ts).map((x) => ({ ...x, topic: r() < 0.5 ? 'in' : 'in2' }));
}

/** Two tables' updates (keys KEYS but null) interleaved. */
function twoTables(seed: number): ScenarioRecord[] {
  const r = rng(seed);
  const keys = ['k1', 'k2', 'k3', 'k10', 'k11'];
  const a = tableRecords(r, 'tin', timestamps(r, N / 2, { stepMs: 100, sizeMs: 1000, graceMs: 0 }), keys);
  const b = tableRecords(r, 'tin2', timestamps(r, N / 2, { stepMs: 100, sizeMs: 1000, graceMs: 0 }), keys);
  return interleave(r, a, b);
}

const TUMBLING = { sizeMs: 1000, advanceMs: 1000, graceMs: 300 };
const TUMBLING_NO_GRACE = { sizeMs: 1000, advanceMs: 1000, graceMs: 0 };
const HOPPING = { sizeMs: 1000, advanceMs: 250, graceMs: 200 };

/** Scenarios of the operators eddy has today. */
export function coreScenarios(seed: number): Scenario[] {
  const s = (k: number) => seed * 1000 + k;
  const r = rng(s(1));
  return [
    {
      name: 'filter-map',
      op: 'filter-map',
      params: {},
      input: streamRecords(r, 'in', timestamps(r, N, { stepMs: 100, ...TUMBLING })),
    },
    { name: 'aggregate', op: 'aggregate', params: {}, input: windowed(s(2), TUMBLING) },
    ...(['final', 'close'] as const).flatMap((emit) => [
      { name: `tumbling ${emit}`, op: 'window', params: { ...TUMBLING, emit }, input: windowed(s(3), TUMBLING) },
      {
        name: `tumbling no grace ${emit}`,
        op: 'window',
        params: { ...TUMBLING_NO_GRACE, emit },
        input: windowed(s(4), TUMBLING_NO_GRACE),
      },
      { name: `hopping ${emit}`, op: 'window', params: { ...HOPPING, emit }, input: windowed(s(5), HOPPING) },
    ]),
    ...(['inner', 'left'] as const).map((kind) => ({
      name: `global-table join ${kind}`,
      op: 'global-join',
      params: { kind },
      input: streamAndTable(
        s(6),
        'table',
        REFS.filter((x) => x !== 'r9'),
      ),
    })),
  ];
}

/** Scenarios of the operators being added now (OPERATORS.md); eddy runs them once its DSL has them. */
export function comingScenarios(seed: number): Scenario[] {
  const s = (k: number) => seed * 1000 + 100 + k;
  const session = { gapMs: 500, graceMs: 200 };
  const sliding = { timeDifferenceMs: 1000, graceMs: 200 };
  const join = { beforeMs: 300, afterMs: 200, graceMs: 100 };
  const streamTable = (kind: string): Scenario => {
    const input = streamAndTable(s(9), 'tin', ['k1', 'k2', 'k3', 'k10']);
    return { name: `stream-table join ${kind}`, op: 'stream-table-join', params: { kind }, input };
  };
  return [
    { name: 'count', op: 'count', params: {}, input: windowed(s(1), TUMBLING) },
    { name: 'reduce', op: 'reduce', params: {}, input: windowed(s(1), TUMBLING) },
    { name: 'tumbling update', op: 'window', params: { ...TUMBLING, emit: 'update' }, input: windowed(s(2), TUMBLING) },
    { name: 'hopping update', op: 'window', params: { ...HOPPING, emit: 'update' }, input: windowed(s(3), HOPPING) },
    ...(['final', 'update'] as const).map((emit) => ({
      name: `hopping count ${emit}`,
      op: 'window-count',
      params: { ...HOPPING, emit },
      input: windowed(s(3), HOPPING),
    })),
    {
      name: 'session final',
      op: 'session',
      params: { ...session, emit: 'final' },
      input: windowed(s(4), { sizeMs: session.gapMs, advanceMs: session.gapMs, graceMs: session.graceMs }),
    },
    ...(['final', 'update'] as const).map((emit) => ({
      name: `sliding ${emit}`,
      op: 'sliding',
      params: { ...sliding, emit },
      input: windowed(s(5), { sizeMs: sliding.timeDifferenceMs, advanceMs: 250, graceMs: sliding.graceMs }),
    })),
    ...(['inner', 'left', 'outer'] as const).map((kind) => ({
      name: `stream-stream join ${kind}`,
      op: 'stream-join',
      params: { ...join, kind },
      input: twoStreams(s(6), { sizeMs: join.beforeMs + join.afterMs, graceMs: join.graceMs }),
    })),
    { name: 'merge', op: 'merge', params: {}, input: twoStreams(s(7), TUMBLING) },
    { name: 'table', op: 'table', params: {}, input: twoTables(s(8)).filter((x) => x.topic === 'tin') },
    {
      name: 'table filter mapValues',
      op: 'table-filter-map',
      params: {},
      input: twoTables(s(8)).filter((x) => x.topic === 'tin'),
    },
    ...(['inner', 'left', 'outer'] as const).map((kind) => ({
      name: `table-table join ${kind}`,
      op: 'table-join',
      params: { kind },
      input: twoTables(s(10)),
    })),
    streamTable('inner'),
    streamTable('left'),
    {
      name: 'table groupBy aggregate',
      op: 'table-groupby',
      params: {},
      input: twoTables(s(11)).filter((x) => x.topic === 'tin'),
    },
  ];
}
