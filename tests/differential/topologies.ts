/**
 * eddy's side of each differential scenario operator: the twin of tests/differential/kstreams/src/main/java/eddy/
 * differential/Scenarios.java (keep them in step). Values and conventions are those documented there.
 *
 * Operators eddy does not have yet (issue 17, names from OPERATORS.md) are written against the agreed DSL through
 * `any`, and `missing(op)` says which DSL method is absent: the test runs such a scenario only when the method exists,
 * and reports which ran.
 */
import * as eddy from '../../src/index.js';
import { GroupedStream, hopping, Stream, Table, type Topology, TopologyBuilder, topology } from '../../src/index.js';

const IN = {
  type: 'record',
  name: 'In',
  fields: [
    { name: 'i', type: 'int' },
    { name: 'v', type: 'int' },
    { name: 'ref', type: ['null', 'string'], default: null },
    { name: 'g', type: ['null', 'string'], default: null },
  ],
};
const AGG = {
  type: 'record',
  name: 'Agg',
  fields: ['count', 'sum', 'last'].map((name) => ({ name, type: 'long' })),
};
const WIN = {
  type: 'record',
  name: 'Win',
  fields: ['start', 'end', 'count', 'sum', 'last'].map((name) => ({ name, type: 'long' })),
};
const WIN_COUNT = {
  type: 'record',
  name: 'WinCount',
  fields: ['start', 'end', 'count'].map((name) => ({ name, type: 'long' })),
};
const IV = {
  type: 'record',
  name: 'IV',
  fields: [
    { name: 'i', type: 'int' },
    { name: 'v', type: 'long' },
  ],
};
const T = { type: 'record', name: 'T', fields: [{ name: 't', type: 'string' }] };
const JOINED = {
  type: 'record',
  name: 'Joined',
  fields: [
    { name: 'i', type: 'int' },
    { name: 'v', type: 'int' },
    { name: 't', type: ['null', 'string'], default: null },
  ],
};
const PAIR = {
  type: 'record',
  name: 'Pair',
  fields: [
    { name: 'l', type: ['null', 'int'], default: null },
    { name: 'r', type: ['null', 'int'], default: null },
  ],
};

export interface In {
  i: number;
  v: number;
  ref: string | null;
  g: string | null;
}
interface Agg {
  count: number;
  sum: number;
  last: number;
}
const init = (): Agg => ({ count: 0, sum: 0, last: -1 });
const add = (a: Agg, v: In): Agg => ({ count: a.count + 1, sum: a.sum + v.v, last: v.i });
/** Kafka Streams' `Merger` is (key, agg1, agg2); eddy's `merger` (aggregate1, aggregate2, key). */
const merge = (a: Agg, b: Agg): Agg => ({
  count: a.count + b.count,
  sum: a.sum + b.sum,
  last: Math.max(a.last, b.last),
});
const pair = (l: { i: number } | null | undefined, r: { i: number } | null | undefined) => ({
  l: l?.i ?? null,
  r: r?.i ?? null,
});
type P = Record<string, unknown>;
// biome-ignore lint/suspicious/noExplicitAny: the DSL of operators other helpers are adding (OPERATORS.md)
type Any = any;

/** The DSL method each not-yet-merged operator needs; undefined when present. */
export function missing(op: string): string | undefined {
  const has = (ok: boolean, what: string) => (ok ? undefined : what);
  const e = eddy as Any;
  const proto = (c: Any, m: string) => typeof c.prototype[m] === 'function';
  switch (op) {
    case 'filter-map':
    case 'aggregate':
    case 'global-join':
      return undefined;
    case 'window':
      return undefined; // emit 'final' today; emit 'update' is checked by the test through the scenario's params
    case 'count':
    case 'reduce':
      return has(proto(GroupedStream, op), `GroupedStream.${op}`);
    case 'window-count':
      return has(proto(e.WindowedStream, 'count'), 'WindowedStream.count');
    case 'session':
      return has(typeof e.sessionWindows === 'function', 'sessionWindows');
    case 'sliding':
      return has(typeof e.slidingWindows === 'function', 'slidingWindows');
    case 'stream-join':
      return has(typeof e.joinWindows === 'function', 'joinWindows');
    case 'merge':
      return has(proto(Stream, 'merge'), 'Stream.merge');
    case 'table':
    case 'stream-table-join':
      return has(proto(TopologyBuilder, 'table'), 'TopologyBuilder.table');
    case 'table-filter-map':
      return has(proto(TopologyBuilder, 'table') && proto(Table, 'filter'), 'TopologyBuilder.table, Table.filter');
    case 'table-join':
      return has(proto(TopologyBuilder, 'table') && proto(Table, 'join'), 'TopologyBuilder.table, Table.join');
    case 'table-groupby':
      return has(proto(TopologyBuilder, 'table') && proto(Table, 'groupBy'), 'TopologyBuilder.table, Table.groupBy');
    default:
      throw new Error(`no eddy topology for scenario operator ${op}`);
  }
}

/** eddy's topology for a scenario operator; its output topic's name; the input topics' names by the scenario's. */
export function build(op: string, p: P): { topology: Topology; out: string } {
  const t = topology({ name: `diff-${op}`, version: 1 });
  const out = t.output<string, unknown>('out', { key: 'string', value: outValue(op, p) });
  const key = { key: 'string' };
  const src = () => t.source<string, In>('in', { key: 'string', value: IN });
  const tin = (topic: string) => (t as Any).table(topic, topic, { key: 'string', value: IN });
  const windowed = (o: Any) =>
    o.toStream((k: string, win: eddy.Window, a: Agg) => ({
      key: k,
      value: { start: win.startMs, end: win.endMs, ...a },
    }));
  const emit = (p.emit === 'close' ? 'final' : p.emit) as 'final' | 'update';
  switch (op) {
    case 'filter-map':
      src()
        .filter((v) => v.v % 3 !== 0)
        .map((r) => ({ key: r.key === null ? null : `${r.key}-m`, value: { i: r.value.i, v: r.value.v * 2 } }))
        .mapValues((v) => ({ i: v.i, v: v.v + 1 }))
        .to(out);
      break;
    case 'aggregate':
      src().groupByKey(key).aggregate('agg', { value: AGG, initializer: init, aggregator: add }).toStream().to(out);
      break;
    case 'window': {
      const spec = hopping({
        sizeMs: p.sizeMs as number,
        advanceMs: p.advanceMs as number,
        graceMs: p.graceMs as number,
      });
      const opts: Any = { value: AGG, initializer: init, aggregator: add };
      if (emit !== 'final') opts.emit = emit; // today's eddy has emit 'final' only: no option
      windowed(src().groupByKey(key).windowedBy(spec).aggregate('win', opts)).to(out);
      break;
    }
    case 'count':
      (src().groupByKey(key) as Any).count('counts').toStream().to(out);
      break;
    case 'reduce':
      (src().groupByKey(key) as Any)
        .reduce('sums', { value: IN, reducer: (a: In, v: In) => ({ ...v, v: a.v + v.v }) })
        .toStream()
        .mapValues((v: In) => ({ i: v.i, v: v.v }))
        .to(out);
      break;
    case 'window-count': {
      const spec = hopping({
        sizeMs: p.sizeMs as number,
        advanceMs: p.advanceMs as number,
        graceMs: p.graceMs as number,
      });
      (src().groupByKey(key).windowedBy(spec) as Any)
        .count('win-count', { emit })
        .toStream((k: string, w: eddy.Window, c: number) => ({
          key: k,
          value: { start: w.startMs, end: w.endMs, count: c },
        }))
        .to(out);
      break;
    }
    case 'session':
    case 'sliding': {
      const e = eddy as Any;
      const spec =
        op === 'session'
          ? e.sessionWindows({ gapMs: p.gapMs, graceMs: p.graceMs })
          : e.slidingWindows({ timeDifferenceMs: p.timeDifferenceMs, graceMs: p.graceMs });
      const fns: Any = { value: AGG, initializer: init, aggregator: add, emit };
      if (op === 'session') fns.merger = merge;
      windowed((src().groupByKey(key) as Any).windowedBy(spec).aggregate(op, fns)).to(out);
      break;
    }
    case 'global-join': {
      const g = t.globalTable<string, { t: string }>('table', 'table', { key: 'string', value: T });
      const joiner = (v: In, tv: { t: string } | undefined) => ({ i: v.i, v: v.v, t: tv?.t ?? null });
      const s = src();
      (p.kind === 'left'
        ? s.leftJoin(g, (r) => r.value.ref as string, joiner, { name: 'join' })
        : s.join(g, (r) => r.value.ref as string, joiner, { name: 'join' })
      ).to(out);
      break;
    }
    case 'stream-join': {
      const window = (eddy as Any).joinWindows({ beforeMs: p.beforeMs, afterMs: p.afterMs, graceMs: p.graceMs });
      const right = t.source<string, In>('in2', { key: 'string', value: IN });
      const m = p.kind === 'inner' ? 'join' : p.kind === 'left' ? 'leftJoin' : 'outerJoin';
      (src() as Any)[m](right, pair, { name: 'ssjoin', window, values: { left: IN, right: IN } }).to(out);
      break;
    }
    case 'merge':
      (src() as Any)
        .merge(t.source<string, In>('in2', { key: 'string', value: IN }), 'merge')
        .mapValues((v: In) => ({ i: v.i, v: v.v }))
        .to(out);
      break;
    case 'table':
      tin('tin').toStream().to(out);
      break;
    case 'table-filter-map':
      tin('tin')
        .filter((v: In) => v.v % 3 !== 0)
        .mapValues((v: In) => ({ i: v.i, v: v.v * 2 }))
        .toStream()
        .to(out);
      break;
    case 'table-join': {
      const m = p.kind === 'inner' ? 'join' : p.kind === 'left' ? 'leftJoin' : 'outerJoin';
      tin('tin')[m](tin('tin2'), pair, { name: 'ttjoin' }).toStream().to(out);
      break;
    }
    case 'stream-table-join': {
      const table = tin('tin');
      const s = src() as Any;
      (p.kind === 'left' ? s.leftJoin(table, pair, { name: 'stjoin' }) : s.join(table, pair, { name: 'stjoin' })).to(
        out,
      );
      break;
    }
    case 'table-groupby':
      tin('tin')
        .groupBy('by-g', (_k: string, v: In) => ({ key: v.g, value: v }), { key: 'string', value: IN })
        .aggregate('by-g-agg', {
          value: AGG,
          initializer: init,
          adder: (_k: string, v: In, a: Agg) => add(a, v),
          subtractor: (_k: string, v: In, a: Agg) => ({ count: a.count - 1, sum: a.sum - v.v, last: v.i }),
        })
        .toStream()
        .to(out);
      break;
    default:
      throw new Error(`no eddy topology for scenario operator ${op}`);
  }
  return { topology: t.build(), out: out.topic };
}

function outValue(op: string, p: P): unknown {
  switch (op) {
    case 'filter-map':
    case 'reduce':
    case 'merge':
      return IV;
    case 'aggregate':
    case 'table-groupby':
      return AGG;
    case 'window':
    case 'session':
    case 'sliding':
      return WIN;
    case 'window-count':
      return WIN_COUNT;
    case 'count':
      return 'long';
    case 'global-join':
      return JOINED;
    case 'table':
      return IN;
    case 'table-filter-map':
      return IV;
    default:
      void p;
      return PAIR;
  }
}
