import { describe, expect, it } from 'vitest';
import { tumbling } from '../../src/processors/window.js';
import { fingerprintChanges, fingerprintOf } from '../../src/replay/fingerprint.js';
import { topology } from '../../src/topology/builder.js';
import { delaysTopology } from './helpers.js';

describe('fingerprintOf', () => {
  it('is equal for two builds of the same code, whatever the property order of schemas', () => {
    const a = fingerprintOf(delaysTopology(), { processingGuarantee: 'exactly-once' });
    const b = fingerprintOf(delaysTopology(), { processingGuarantee: 'exactly-once' });
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(b).toEqual(a);
    // The same topology with a schema whose keys are in another order and which carries docs.
    const t = delaysTopology();
    const store = t.stores.get('route_stats')!;
    const reordered = JSON.parse(JSON.stringify(store.valueSchema), (_k, v) =>
      v !== null && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(
            Object.entries(v as object)
              .reverse()
              .concat([['doc', 'ignored']]),
          )
        : v,
    );
    (t.stores as Map<string, unknown>).set('route_stats', { ...store, valueSchema: reordered });
    expect(fingerprintOf(t, { processingGuarantee: 'exactly-once' }).hash).toBe(a.hash);
  });

  it('names a window size change', () => {
    const a = fingerprintOf(delaysTopology(), {});
    const b = fingerprintOf(delaysTopology({ windowMs: 604_800_000 }), {});
    expect(b.hash).not.toBe(a.hash);
    expect(fingerprintChanges(a, b)).toEqual([
      'window size of by_airport_hour changed 3600000 ms → 604800000 ms',
      'window advance of by_airport_hour changed 3600000 ms → 604800000 ms',
    ]);
  });

  it('changes with the emit strategy of a windowed aggregation (node params); the default adds nothing', () => {
    const build = (emit?: 'final' | 'update') => {
      const t = topology({ name: 'emit', version: 1 });
      t.source<string, string>('in', { key: 'string', value: 'string' })
        .groupByKey({ key: 'string' })
        .windowedBy(tumbling({ sizeMs: 1_000 }))
        .count('per_second', emit === undefined ? {} : { emit });
      return fingerprintOf(t.build(), {});
    };
    expect(build('final').hash).toBe(build().hash);
    expect(build('update').hash).not.toBe(build('final').hash);
    expect(fingerprintChanges(build('final'), build('update')).join('\n')).toContain('per_second');
  });

  it('names a store value schema change field by field', () => {
    const a = fingerprintOf(delaysTopology(), {});
    const b = fingerprintOf(delaysTopology({ p60: true }), {});
    expect(fingerprintChanges(a, b)).toEqual(['value schema of store route_stats changed (field p60 added)']);
  });

  it('names an added operator and the edges it changed', () => {
    const a = fingerprintOf(delaysTopology(), {});
    const b = fingerprintOf(delaysTopology({ extraFilter: true }), {});
    const changes = fingerprintChanges(a, b);
    expect(changes).toContain('operator added: filter "x"');
    expect(changes.some((c) => c.startsWith('operator "validate" changed: children'))).toBe(true);
  });

  it('covers the processing guarantee, codeVersion and output schemas', () => {
    const a = fingerprintOf(delaysTopology(), {});
    expect(fingerprintChanges(a, fingerprintOf(delaysTopology(), { processingGuarantee: 'at-least-once' }))).toEqual([
      'processing guarantee changed exactly-once → at-least-once',
    ]);
    expect(fingerprintChanges(a, fingerprintOf(delaysTopology({ codeVersion: 'abc' }), {}))).toEqual([
      'codeVersion changed (none) → abc',
    ]);
    const t = delaysTopology();
    const out = t.topics.get('delays-hourly.v1')!;
    (t.topics as Map<string, unknown>).set(out.name, { ...out, valueSchema: 'string' });
    expect(fingerprintChanges(a, fingerprintOf(t, {}))).toEqual([
      'value schema of output topic delays-hourly.v1 changed (record DelayStats → string)',
    ]);
  });
});
