import { describe, expect, it } from 'vitest';
import { GlobalTableView } from '../../src/runtime/global-tables.js';

/** A key serde whose bytes do not depend on property order (as an Avro record key's do not). */
const canonical = {
  serialize: (k: Record<string, string>) => Buffer.from(JSON.stringify(Object.fromEntries(Object.entries(k).sort()))),
  deserialize: (b: Buffer) => JSON.parse(b.toString()) as Record<string, string>,
};

describe('GlobalTableView', () => {
  // Regression: keys were identified by JSON.stringify, so the same record key with another property order missed.
  it('identifies structured keys by their serialized bytes, like state stores', () => {
    const t = new GlobalTableView<Record<string, string>, number>('routes', 'routes', canonical);
    t.set({ from: 'SFO', to: 'BOS' }, 1);
    expect(t.get({ to: 'BOS', from: 'SFO' })).toBe(1);
    t.set({ to: 'BOS', from: 'SFO' }, 2);
    expect(t.size).toBe(1);
    t.set({ from: 'SFO', to: 'BOS' }, null);
    expect(t.get({ to: 'BOS', from: 'SFO' })).toBeUndefined();
    expect(t.size).toBe(0);
  });

  it('keeps string keys as themselves', () => {
    const t = new GlobalTableView<string, number>('airports', 'airports', {
      serialize: () => {
        throw new Error('string keys are not serialized');
      },
      deserialize: () => '',
    });
    t.set('SFO', 1);
    expect(t.get('SFO')).toBe(1);
    expect(t.get('LAX')).toBeUndefined();
  });
});
