/**
 * merge, selectKey and repartition through the TopologyTestDriver (Avro keys and values): merge is a pass-through of
 * two streams; selectKey marks the stream key-changed so that groupByKey must repartition (Kafka Streams'
 * repartitionRequired); repartition goes through `<topology>.v<N>.<name>.repartition`, with a fixed partition count
 * when given, and drops null keys.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { partitionFor, TopologyTestDriver, topology } from '../../src/index.js';
import { fingerprintOf } from '../../src/replay/fingerprint.js';
import type { Topology } from '../../src/topology/graph.js';

const CLICK = {
  type: 'record',
  name: 'Click',
  fields: [
    { name: 'user', type: 'string' },
    { name: 'page', type: 'string' },
  ],
};
interface Click {
  user: string;
  page: string;
}
const schemas = { key: 'string', value: CLICK } as const;

const drivers: TopologyTestDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
});

/** web and app clicks (keyed by session) merged, re-keyed by user, counted per user. */
function build(opts: { partitions?: number } = {}): Topology {
  const t = topology({ name: 'ops', version: 1 });
  const web = t.source<string, Click>('web', schemas);
  const app = t.source<string, Click>('app', schemas);
  const all = web.merge(app, 'all');
  all.to(t.output<string, Click>('all', schemas));
  all
    .selectKey((r) => r.value.user, 'by-user-key')
    .groupByKey({ key: 'string', value: CLICK, repartition: 'by-user' })
    .count('per_user')
    .toStream()
    .mapValues((n) => ({ user: '', page: String(n) }))
    .to(t.output<string, Click>('counts', schemas));
  all
    .repartition({ name: 'by-session', partitions: opts.partitions, ...schemas })
    .to(t.output<string, Click>('repartitioned', schemas));
  return t.build();
}

describe('merge, selectKey, repartition', () => {
  it('merge passes both streams; selectKey + groupByKey counts per new key through the named repartition topic', async () => {
    const d = await TopologyTestDriver.create(build(), { partitions: { web: 2, app: 2 } });
    drivers.push(d);
    await d.pipeInputs([
      { topic: 'web', key: 's1', value: { user: 'ann', page: '/a' }, timestampMs: 1 },
      { topic: 'app', key: 's2', value: { user: 'ann', page: '/b' }, timestampMs: 2 },
      { topic: 'web', key: 's3', value: { user: 'bob', page: '/c' }, timestampMs: 3 },
      { topic: 'app', key: 's4', value: { user: 'ann', page: '/d' }, timestampMs: 4 },
    ]);
    expect(
      d
        .readOutput<string, Click>('all.v1')
        .map((o) => o.value.page)
        .sort(),
    ).toEqual(['/a', '/b', '/c', '/d']);
    const counts = new Map(d.readOutput<string, Click>('counts.v1').map((o) => [o.key, o.value.page]));
    expect(Object.fromEntries(counts)).toEqual({ ann: '3', bob: '1' });
    // every record of a user went through the repartition topic, partitioned by the new key
    for (const r of d.records('ops.v1.by-user.repartition')) expect(r.partition).toBe(partitionFor(r.key, 2));
    expect(d.records('ops.v1.by-user.repartition')).toHaveLength(4);
  });

  it('repartition: its own topic with a fixed partition count, entering the fingerprint', async () => {
    const d = await TopologyTestDriver.create(build({ partitions: 3 }), { partitions: { web: 1, app: 1 } });
    drivers.push(d);
    expect(d.partitionsOf('ops.v1.by-session.repartition')).toBe(3);
    await d.pipeInput('web', 's9', { user: 'cy', page: '/x' }, 5);
    const out = d.readOutput<string, Click>('repartitioned.v1');
    expect(out.map((o) => [o.key, o.value.page])).toEqual([['s9', '/x']]);
    expect(fingerprintOf(build({ partitions: 3 }), {}).hash).not.toBe(fingerprintOf(build({ partitions: 4 }), {}).hash);
    expect(() => build({ partitions: 0 })).toThrow(
      'repartition "by-session": partitions must be an integer >= 1, got 0',
    );
  });

  it('groupByKey after selectKey without a repartition name is refused, naming the fix', () => {
    const t = topology({ name: 'ops2', version: 1 });
    const rekeyed = t.source<string, Click>('web', schemas).selectKey((r) => r.value.user);
    expect(() => rekeyed.groupByKey({ key: 'string' })).toThrow(
      "groupByKey after selectKey must repartition: give it a repartition topic name and the value schema, e.g. groupByKey({ key, value, repartition: 'by-user' })",
    );
    // still key-changed after a key-preserving operator; not after a repartition
    expect(() => rekeyed.filter(() => true).groupByKey({ key: 'string' })).toThrow('must repartition');
    expect(() => rekeyed.repartition({ name: 'r', ...schemas }).groupByKey({ key: 'string' })).not.toThrow();
  });
});
