import { describe, expect, it } from 'vitest';
import { hopping, tumbling } from '../../src/processors/window.js';
import { topology } from '../../src/topology/builder.js';

const str = { key: 'string', value: 'string' } as const;
const num = { key: 'string', value: 'long' } as const;

/** What `fn` threw (fails the test if nothing was thrown). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error, none was thrown');
}

describe('topology options', () => {
  it('rejects a version that is not an integer >= 1', () => {
    for (const version of [0, -1, 1.5, Number.NaN]) {
      const err = thrown(() => topology({ name: 't', version }));
      expect(err).toBeInstanceOf(RangeError);
      expect(err.message).toBe(`topology version must be an integer >= 1, got ${version}`);
    }
  });

  it('rejects a bad topology name with checkName', () => {
    expect(() => topology({ name: 'my topology', version: 1 })).toThrow(
      'topology name "my topology" is not a valid name',
    );
  });

  it('defaults the error policy to dead-letter', () => {
    expect(topology({ name: 't', version: 1 }).policy).toBe('dead-letter');
    expect(topology({ name: 't', version: 1, onError: 'fail' }).policy).toBe('fail');
  });
});

describe('builder errors', () => {
  it('a topology without a source cannot be built', () => {
    const t = topology({ name: 't', version: 1 });
    t.output('out', str);
    const err = thrown(() => t.build());
    expect(err).toBeInstanceOf(RangeError);
    expect(err.message).toBe('topology t has no source: call source(topic, schemas)');
  });

  it('build() twice fails, and a built topology cannot change', () => {
    const t = topology({ name: 't', version: 3 });
    const s = t.source<string, string>('in', str);
    t.build();
    expect(() => t.build()).toThrow('topology t v3 was already built');
    expect(() => s.filter(() => true, 'late-addition')).toThrow('topology t v3 is built; it cannot change');
  });

  it('two processors with one name', () => {
    const t = topology({ name: 't', version: 1 });
    const s = t.source<string, string>('in', str).filter(() => true, 'f');
    expect(() => s.mapValues((v) => v, 'f')).toThrow(
      'name "f" is used twice in topology t; every processor and store needs its own',
    );
  });

  it('a store declared twice', () => {
    const t = topology({ name: 't', version: 1 });
    const g = t.source<string, number>('in', num).groupByKey({ key: 'string' });
    const fns = { value: 'long', initializer: () => 0, aggregator: (a: number, v: number) => a + v };
    g.aggregate('sums', fns);
    expect(() => g.aggregate('sums', fns)).toThrow('store "sums" is declared twice in topology t');
    expect(() => g.windowedBy(tumbling({ sizeMs: 10 })).aggregate('sums', fns)).toThrow(
      'store "sums" is declared twice in topology t',
    );
  });

  it('a store named like an existing processor', () => {
    const t = topology({ name: 't', version: 1 });
    const s = t.source<string, number>('in', num).filter(() => true, 'sums');
    expect(() =>
      s.groupByKey({ key: 'string' }).aggregate('sums', { value: 'long', initializer: () => 0, aggregator: (a) => a }),
    ).toThrow('name "sums" is used twice');
  });

  it('one topic in two roles', () => {
    const t = topology({ name: 't', version: 1 });
    t.source('shared', str);
    expect(() => t.globalTable('g', 'shared', str)).toThrow(
      'topic "shared" is used as both source and global in topology t',
    );
  });

  it('bad names of topics, stores, group-bys and global tables', () => {
    const t = topology({ name: 't', version: 1 });
    expect(() => t.source('bad topic', str)).toThrow('topic "bad topic" is not a valid name');
    expect(() => t.output('out/1', str)).toThrow('output topic "out/1" is not a valid name');
    expect(() => t.globalTable('g g', 'ok', str)).toThrow('global table "g g" is not a valid name');
    const s = t.source<string, number>('in', num);
    expect(() => s.groupBy('by key', (r) => r.key, num)).toThrow('groupBy name "by key" is not a valid name');
    expect(() =>
      s
        .groupByKey({ key: 'string' })
        .aggregate('my store', { value: 'long', initializer: () => 0, aggregator: (a) => a }),
    ).toThrow('store "my store" is not a valid name');
  });

  it('reading one source topic twice fails (as in Kafka Streams): its source node name is taken', () => {
    const t = topology({ name: 't', version: 1 });
    t.source('in', str);
    expect(() => t.source('in', str)).toThrow('name "source:in" is used twice');
  });
});

describe('what the builder records', () => {
  it('topics with their roles, the dead-letter topic and the consumer group', () => {
    const t = topology({ name: 'shop', version: 2, description: 'orders' });
    const orders = t.source<string, number>('orders', num);
    const out = t.output<string, number>('big-orders', { ...num, partitions: 3, compacted: true });
    expect(out.topic).toBe('big-orders.v2');
    orders.filter((v) => v > 100).to(out);
    const built = t.build();
    expect([...built.topics.values()]).toEqual([
      { name: 'orders', role: 'source', keySchema: 'string', valueSchema: 'long', compacted: false },
      {
        name: 'big-orders.v2',
        role: 'output',
        keySchema: 'string',
        valueSchema: 'long',
        compacted: true,
        partitions: 3,
      },
      { name: 'shop.v2.dlq', role: 'dlq', compacted: false },
    ]);
    expect(built.deadLetterTopic).toBe('shop.v2.dlq');
    expect(built.groupId).toBe('shop.v2');
    expect(built.description).toBe('orders');
    expect([built.name, built.version]).toEqual(['shop', 2]);
  });

  it('stateless operators without names get unique generated names; named ones keep theirs', () => {
    const t = topology({ name: 't', version: 1 });
    t.source<string, number>('in', num)
      .filter((v) => v > 0)
      .mapValues((v) => v * 2)
      .map((r) => ({ key: r.value, value: r.key }))
      .peek(() => {}, 'look')
      .flatMap((r) => [r])
      .to(t.output('out', num));
    expect(t.build().nodes.map((n) => `${n.name}:${n.kind}`)).toEqual([
      'source:in:source',
      'filter-1:filter',
      'mapValues-2:mapValues',
      'map-3:map',
      'look:peek',
      'flatMap-5:flatMap',
      'sink-6:sink',
    ]);
  });

  it('groupBy adds a re-keying map, a sink to the repartition topic and a source reading it', () => {
    const t = topology({ name: 'app', version: 1 });
    t.source<string, number>('in', num)
      .groupBy('by_parity', (r) => (r.value % 2 === 0 ? 'even' : 'odd'), num)
      .aggregate('parity_sums', {
        value: 'long',
        keyName: 'parity',
        initializer: () => 0,
        aggregator: (a, v) => a + v,
      });
    const b = t.build();
    expect(
      b.nodes.map((n) => ({
        name: n.name,
        kind: n.kind,
        parents: n.parents,
        children: n.children,
        topic: n.topic,
        stores: n.stores,
      })),
    ).toEqual([
      { name: 'source:in', kind: 'source', parents: [], children: [1], topic: 'in', stores: [] },
      { name: 'by_parity-key', kind: 'map', parents: [0], children: [2], topic: undefined, stores: [] },
      {
        name: 'by_parity-sink',
        kind: 'sink',
        parents: [1],
        children: [],
        topic: 'app.v1.by_parity.repartition',
        stores: [],
      },
      {
        name: 'by_parity-source',
        kind: 'source',
        parents: [],
        children: [4],
        topic: 'app.v1.by_parity.repartition',
        stores: [],
      },
      { name: 'parity_sums', kind: 'aggregate', parents: [3], children: [], topic: undefined, stores: ['parity_sums'] },
    ]);
    expect(b.topics.get('app.v1.by_parity.repartition')).toEqual({
      name: 'app.v1.by_parity.repartition',
      role: 'repartition',
      keySchema: 'string',
      valueSchema: 'long',
      compacted: false,
    });
    expect(b.stores.get('parity_sums')).toEqual({
      name: 'parity_sums',
      kind: 'kv',
      keySchema: 'string',
      valueSchema: 'long',
      changelog: 'app.v1.parity_sums.changelog',
      window: undefined,
      keyName: 'parity',
    });
    expect(b.topics.get('app.v1.parity_sums.changelog')).toEqual({
      name: 'app.v1.parity_sums.changelog',
      role: 'changelog',
      keySchema: 'string',
      valueSchema: 'long',
      compacted: true,
    });
  });

  it('windowed aggregate: a window store with its spec; keyName defaults to key', () => {
    const t = topology({ name: 'app', version: 1 });
    const spec = hopping({ sizeMs: 60_000, advanceMs: 15_000, graceMs: 5_000 });
    t.source<string, number>('in', num)
      .groupByKey({ key: 'string' })
      .windowedBy(spec)
      .aggregate('per_minute', { value: 'long', initializer: () => 0, aggregator: (a, v) => a + v })
      .toStream((k, w, a) => ({ key: k, value: `${w.startMs}:${a}` }), 'final')
      .to(t.output('minutes', str), 'to-minutes');
    const b = t.build();
    expect(b.stores.get('per_minute')).toEqual({
      name: 'per_minute',
      kind: 'window',
      keySchema: 'string',
      valueSchema: 'long',
      changelog: 'app.v1.per_minute.changelog',
      window: { sizeMs: 60_000, advanceMs: 15_000, graceMs: 5_000 },
      keyName: 'key',
    });
    expect(b.nodes.map((n) => `${n.name}:${n.kind}`)).toEqual([
      'source:in:source',
      'per_minute:window-aggregate',
      'final:to-stream',
      'to-minutes:sink',
    ]);
  });

  it('branch: a hub and one arm per branch (and a default arm when asked)', () => {
    const t = topology({ name: 't', version: 1 });
    const arms = t
      .source<string, number>('in', num)
      .branch('split', { small: (v) => v < 10, big: (v) => v >= 1000 }, { default: true });
    expect(Object.keys(arms).sort()).toEqual(['big', 'default', 'small']);
    arms.small.to(t.output('small', num), 'to-small');
    const b = t.build();
    expect(b.nodes.map((n) => `${n.name}<-${n.parents.join(',')}`)).toEqual([
      'source:in<-',
      'split<-0',
      'split-small<-1',
      'split-big<-1',
      'split-default<-1',
      'to-small<-2',
    ]);
    const none = topology({ name: 'u', version: 1 })
      .source<string, number>('in', num)
      .branch('b', { one: () => true });
    expect(none.default).toBeUndefined();
  });

  it('joins name the global table among the node stores; agents declare their tables as stores', () => {
    const t = topology({ name: 't', version: 1 });
    const g = t.globalTable<string, string>('names', 'names-topic', str);
    expect(g).toEqual({ name: 'names', topic: 'names-topic' });
    const joined = t.source<string, string>('in', str).join(
      g,
      (r) => r.key,
      (v, n) => `${v}/${n}`,
      { name: 'j' },
    );
    t.agent(
      'counter',
      joined,
      async function* (s) {
        for await (const r of s) yield r;
      },
      { stores: { seen: { key: 'string', value: 'long' } } },
    );
    const b = t.build();
    expect(b.nodes.find((n) => n.name === 'j')!.stores).toEqual(['names']);
    expect(b.nodes.find((n) => n.name === 'counter')!.stores).toEqual(['seen']);
    expect(b.globalTables.get('names')).toEqual({
      name: 'names',
      topic: 'names-topic',
      keySchema: 'string',
      valueSchema: 'string',
    });
    expect(b.topics.get('names-topic')!.role).toBe('global');
    expect(b.topics.get('names-topic')!.compacted).toBe(true);
    expect(b.stores.get('seen')!.changelog).toBe('t.v1.seen.changelog');
    expect(b.subtopologies.map((s) => s.stores)).toEqual([['seen']]); // the global table is no task store
  });
});
