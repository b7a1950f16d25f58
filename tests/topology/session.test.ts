/**
 * Session and sliding windows in the DSL: types flowing through `windowedBy` (checked by compiling this directory in
 * types.test.ts), the graph (node kinds, params, the store's window spec and value schema), `describe`, and the
 * version fingerprint naming a changed gap, grace, emit strategy or time difference.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { traceStore } from '../../src/debug/trace.js';
import {
  describeText,
  type EmitStrategy,
  type SessionWindowedStream,
  type SlidingWindowedStream,
  sessionWindows,
  slidingWindows,
  topology,
  tumbling,
  type WindowedStream,
  type WindowedTable,
} from '../../src/index.js';
import { fingerprintChanges, fingerprintOf } from '../../src/replay/fingerprint.js';
import { activityTopology, MINUTE } from './session-topology.js';

interface Click {
  page: string;
  ms: number;
}

describe('session and sliding windows in the DSL', () => {
  it('windowedBy picks the windowed stream by the spec; key and value types flow through', () => {
    const t = topology({ name: 'types', version: 1 });
    const g = t.source<string, Click>('clicks', { key: 'string', value: 'string' }).groupByKey({ key: 'string' });
    expectTypeOf(g.windowedBy(sessionWindows({ gapMs: 10 }))).toEqualTypeOf<SessionWindowedStream<string, Click>>();
    expectTypeOf(g.windowedBy(slidingWindows({ timeDifferenceMs: 10 }))).toEqualTypeOf<
      SlidingWindowedStream<string, Click>
    >();
    expectTypeOf(g.windowedBy(tumbling({ sizeMs: 10 }))).toEqualTypeOf<WindowedStream<string, Click>>();
    const s = g.windowedBy(sessionWindows({ gapMs: 10 }));
    expectTypeOf(s.count('c1')).toEqualTypeOf<WindowedTable<string, number>>();
    expectTypeOf(s.count('c2', { emit: 'update' })).toEqualTypeOf<WindowedTable<string, number | null>>();
    const emit = 'final' as EmitStrategy; // decided at run time: tombstones possible
    expectTypeOf(s.count('c2b', { emit })).toEqualTypeOf<WindowedTable<string, number | null>>();
    const agg = s.aggregate('c3', {
      value: 'long',
      initializer: () => 0,
      aggregator: (a, v) => a + v.ms,
      merger: (a, b, key) => a + b + key.length,
    });
    expectTypeOf(agg).toEqualTypeOf<WindowedTable<string, number>>();
    expectTypeOf(s.reduce('c4', { value: 'string', reducer: (a, b) => (a.ms > b.ms ? a : b) })).toEqualTypeOf<
      WindowedTable<string, Click>
    >();
    // @ts-expect-error: a session aggregation needs a merger
    s.aggregate('c5', { value: 'long', initializer: () => 0, aggregator: (a: number) => a });
    const sl = g.windowedBy(slidingWindows({ timeDifferenceMs: 10 }));
    expectTypeOf(sl.count('c6')).toEqualTypeOf<WindowedTable<string, number>>();
    expectTypeOf(
      sl.aggregate('c7', { value: 'long', initializer: () => 0, aggregator: (a, v) => a + v.ms }),
    ).toEqualTypeOf<WindowedTable<string, number>>();
  });

  it('builds a node per aggregation with its params, and window stores that say how their windows end', () => {
    const t = activityTopology();
    const sessions = t.nodes.find((n) => n.name === 'user_sessions')!;
    expect(sessions.kind).toBe('session-aggregate');
    expect(sessions.params).toEqual({ windows: 'session', gapMs: 5 * MINUTE, graceMs: MINUTE, emit: 'final' });
    expect(t.nodes.find((n) => n.name === 'user_sliding')!.params).toEqual({
      windows: 'sliding',
      timeDifferenceMs: 10 * MINUTE,
      graceMs: MINUTE,
      emit: 'final',
    });
    const store = t.stores.get('user_sessions')!;
    expect(store.kind).toBe('window');
    expect(store.windows).toEqual({ type: 'session', gapMs: 5 * MINUTE, graceMs: MINUTE });
    expect(store.valueSchema).toEqual({
      type: 'record',
      name: 'eddy_session_user_sessions',
      fields: [
        { name: 'endMs', type: 'long' },
        { name: 'aggregate', type: 'long' },
      ],
    });
    expect(describeText(t)).toContain('user_sessions [window session gap 300000ms/grace 60000ms]');
    expect(describeText(t)).toContain('user_sliding [window sliding timeDifference 600000ms/grace 60000ms]');
  });

  it('rejects a bad emit strategy', () => {
    const t = topology({ name: 'bad', version: 1 });
    const g = t.source<string, string>('in', { key: 'string', value: 'string' }).groupByKey({ key: 'string' });
    expect(() => g.windowedBy(sessionWindows({ gapMs: 5 })).count('c', { emit: 'sometimes' as 'final' })).toThrow(
      "emit must be 'final' (once, when the window closes) or 'update' (every change), got sometimes",
    );
  });

  it('a changed gap, grace, emit strategy or time difference changes the version fingerprint, by name', () => {
    const base = fingerprintOf(activityTopology(), {});
    for (const changed of [
      activityTopology({ gapMs: 6 * MINUTE }),
      activityTopology({ graceMs: 2 * MINUTE }),
      activityTopology({ emit: 'update' }),
    ]) {
      const f = fingerprintOf(changed, {});
      expect(f.hash).not.toBe(base.hash);
      expect(fingerprintChanges(base, f).join('\n')).toContain('user_sessions');
    }
    const sliding = fingerprintOf(activityTopology({ timeDifferenceMs: 20 * MINUTE }), {});
    expect(fingerprintChanges(base, sliding).join('\n')).toContain('user_sliding');
    expect(fingerprintOf(activityTopology(), {}).hash).toBe(base.hash);
  });

  it('eddy trace refuses a session or sliding store with a clear error (it follows fixed windows only)', async () => {
    const t = activityTopology();
    const o = { topology: t, store: 'user_sessions', key: 'u1' } as unknown as Parameters<typeof traceStore>[0];
    await expect(traceStore(o)).rejects.toThrow(
      'store "user_sessions" holds session windows, which eddy trace does not follow yet',
    );
  });
});
