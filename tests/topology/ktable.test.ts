/**
 * Tables through `TopologyTestDriver`: a table read from a topic (latest value per key, tombstones, null keys
 * dropped), filter/mapValues/toStream on changes, and KGroupedTable re-aggregation through its repartition topic
 * (an update retracts the old value from its old group before adding the new one, as Kafka Streams 3.9).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TopologyTestDriver, topology } from '../../src/index.js';
import { fingerprintOf } from '../../src/replay/fingerprint.js';

const drivers: TopologyTestDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
});

interface User {
  region: string;
  score: number;
}
const userSchema = {
  type: 'record',
  name: 'User',
  namespace: 'test.users',
  fields: [
    { name: 'region', type: 'string' },
    { name: 'score', type: 'long' },
  ],
};
const USERS = [
  ['u1', { region: 'A', score: 5 }, 1],
  ['u2', { region: 'A', score: 7 }, 2],
  ['u1', { region: 'B', score: 5 }, 3], // moves u1 from A to B
  ['u2', null, 4], // deletes u2: A loses it
  ['u1', { region: 'B', score: 6 }, 5], // stays in B: one record, subtract then add
  ['u3', null, 6], // a tombstone for a key that never existed
] as const;

async function driver(build: (t: ReturnType<typeof topology>) => void, opts = {}) {
  const t = topology({ name: 'tables', version: 1 });
  build(t);
  const d = await TopologyTestDriver.create(t.build(), opts);
  drivers.push(d);
  return d;
}

describe('t.table', () => {
  it('keeps the latest value per key, deletes on a tombstone, drops null keys (counted)', async () => {
    const d = await driver((t) => {
      const users = t.table<string, User>('users', 'users-topic', { key: 'string', value: userSchema });
      users.toStream('users-changes').to(t.output('changes', { key: 'string', value: ['null', userSchema] }));
    });
    for (const [k, v, ts] of USERS) await d.pipeInput('users-topic', k, v, ts);
    const nullKey = d.serializeInput({ topic: 'users-topic', key: 'x', value: { region: 'Z', score: 1 } });
    await d.pipeRawInputs([{ ...nullKey, key: null, partition: 0 }]);
    expect(
      d
        .kvStore<string, User>('users')
        .all()
        .map((e) => [e.key, e.value]),
    ).toEqual([['u1', { region: 'B', score: 6 }]]);
    expect(d.readOutput('changes.v1').map((r) => [r.key, r.value, r.timestamp])).toEqual([
      ['u1', { region: 'A', score: 5 }, 1],
      ['u2', { region: 'A', score: 7 }, 2],
      ['u1', { region: 'B', score: 5 }, 3],
      ['u2', null, 4],
      ['u1', { region: 'B', score: 6 }, 5],
      ['u3', null, 6],
    ]);
    // The tombstones were written as tombstones (null value bytes).
    expect(d.records('changes.v1').filter((r) => r.value === null).length).toBe(2);
    expect(d.readDeadLetters()).toEqual([]);
    expect(d.stats.droppedBy.get('users')).toBe(1);
  });

  it('filter forwards a tombstone only for a key that passed before; mapValues maps new and old values', async () => {
    const d = await driver((t) => {
      const users = t.table<string, User>('users', 'users-topic', { key: 'string', value: userSchema });
      users
        .filter((u) => u.region === 'A', 'in-a')
        .mapValues((u, k) => `${k}:${u.score}`, 'label')
        .toStream()
        .to(t.output('in-a', { key: 'string', value: ['null', 'string'] }));
    });
    for (const [k, v, ts] of USERS) await d.pipeInput('users-topic', k, v, ts);
    expect(d.readOutput('in-a.v1').map((r) => [r.key, r.value])).toEqual([
      ['u1', 'u1:5'],
      ['u2', 'u2:7'],
      ['u1', null], // u1 left region A
      ['u2', null], // u2 deleted
      // u1's second B update and u3's tombstone: never passed, nothing
    ]);
  });
});

describe('Table.groupBy', () => {
  const regions = (t: ReturnType<typeof topology>) =>
    t
      .table<string, User>('users', 'users-topic', { key: 'string', value: userSchema })
      .groupBy('by-region', (_k, u) => ({ key: u.region, value: u }), { key: 'string', value: userSchema });

  it('count: an update retracts the old row from its old group, then adds the new one', async () => {
    const d = await driver((t) => {
      regions(t)
        .count('users_per_region')
        .toStream()
        .to(t.output('counts', { key: 'string', value: 'long' }));
    });
    for (const [k, v, ts] of USERS) await d.pipeInput('users-topic', k, v, ts);
    expect(d.readOutput('counts.v1').map((r) => [r.key, r.value, r.timestamp])).toEqual([
      ['A', 1, 1],
      ['A', 2, 2],
      ['A', 1, 3],
      ['B', 1, 3],
      ['A', 0, 4],
      ['B', 1, 5],
    ]);
    expect(d.kvStore<string, number>('users_per_region').get('A')).toBe(0);
    // u1's move to B: two records on the repartition topic (old group first); its B update: one, with both values
    const repart = d.readOutput<string, { newValue: User | null; oldValue: User | null }>(
      'tables.v1.by-region.repartition',
    );
    expect(repart.map((r) => [r.key, r.value?.newValue?.score ?? null, r.value?.oldValue?.score ?? null])).toEqual([
      ['A', 5, null],
      ['A', 7, null],
      ['A', null, 5],
      ['B', 5, null],
      ['A', null, 7],
      ['B', 6, 5],
    ]);
  });

  it('aggregate and reduce with adder and subtractor', async () => {
    const d = await driver((t) => {
      const g = regions(t);
      g.aggregate('score_sums', {
        initializer: () => ({ users: 0, total: 0 }),
        adder: (_k, u, a) => ({ users: a.users + 1, total: a.total + u.score }),
        subtractor: (_k, u, a) => ({ users: a.users - 1, total: a.total - u.score }),
        value: {
          type: 'record',
          name: 'Sums',
          fields: [
            { name: 'users', type: 'long' },
            { name: 'total', type: 'long' },
          ],
        },
      })
        .toStream()
        .to(
          t.output('sums', {
            key: 'string',
            value: {
              type: 'record',
              name: 'Sums',
              fields: [
                { name: 'users', type: 'long' },
                { name: 'total', type: 'long' },
              ],
            },
          }),
        );
      g.reduce('max_user', {
        adder: (a, u) => ({ region: a.region, score: a.score + u.score }),
        subtractor: (a, u) => ({ region: a.region, score: a.score - u.score }),
        value: userSchema,
      });
    });
    for (const [k, v, ts] of USERS) await d.pipeInput('users-topic', k, v, ts);
    expect(d.readOutput('sums.v1').map((r) => [r.key, r.value])).toEqual([
      ['A', { users: 1, total: 5 }],
      ['A', { users: 2, total: 12 }],
      ['A', { users: 1, total: 7 }],
      ['B', { users: 1, total: 5 }],
      ['A', { users: 0, total: 0 }],
      ['B', { users: 1, total: 6 }],
    ]);
    expect(d.kvStore<string, User>('max_user').get('B')).toEqual({ region: 'B', score: 6 });
    expect(d.kvStore<string, User>('max_user').get('A')).toEqual({ region: 'A', score: 0 });
  });

  it('gives the same outputs with batches of 1 and of 1000 records', async () => {
    const outputs: unknown[] = [];
    for (const maxBatchRecords of [1, 1000]) {
      const d = await driver(
        (t) =>
          regions(t)
            .count('users_per_region')
            .toStream()
            .to(t.output('counts', { key: 'string', value: 'long' })),
        { maxBatchRecords },
      );
      await d.pipeInputs(USERS.map(([key, value, timestampMs]) => ({ topic: 'users-topic', key, value, timestampMs })));
      outputs.push(d.readOutput('counts.v1').map((r) => [r.key, r.value, r.timestamp]));
    }
    expect(outputs[0]).toEqual(outputs[1]);
    expect(outputs[0]).toHaveLength(6);
  });
});

describe('table fingerprints', () => {
  it('the join kind enters the fingerprint', () => {
    const build = (kind: 'join' | 'leftJoin' | 'outerJoin') => {
      const t = topology({ name: 'fp', version: 1 });
      const l = t.table<string, string>('l', 'l-topic', { key: 'string', value: 'string' });
      const r = t.table<string, string>('r', 'r-topic', { key: 'string', value: 'string' });
      const joiner = (a: string | null, b: string | null) => `${a}${b}`;
      const joined =
        kind === 'join'
          ? l.join(r, joiner, { name: 'lr' })
          : kind === 'leftJoin'
            ? l.leftJoin(r, joiner, { name: 'lr' })
            : l.outerJoin(r, joiner, { name: 'lr' });
      joined.toStream('out').to(t.output('o', { key: 'string', value: ['null', 'string'] }));
      return fingerprintOf(t.build());
    };
    expect(build('join').hash).not.toBe(build('leftJoin').hash);
    expect(build('leftJoin').hash).not.toBe(build('outerJoin').hash);
    expect(build('join').components['node:lr-this']).toContain('"kind":"inner"');
  });

  it('a table source differs from a stream source of the same topic', () => {
    const a = topology({ name: 'fp', version: 1 });
    a.table('t', 'topic', { key: 'string', value: 'string' })
      .toStream('s')
      .to(a.output('o', { key: 'string', value: 'string' }));
    const b = topology({ name: 'fp', version: 1 });
    b.source('topic', { key: 'string', value: 'string' }).to(b.output('o', { key: 'string', value: 'string' }));
    expect(fingerprintOf(a.build()).components['topic:topic']).not.toBe(
      fingerprintOf(b.build()).components['topic:topic'],
    );
  });
});

describe('co-partitioning', () => {
  it('a repartition topic read beside a stream gets the stream’s partition count; the join sees every group', async () => {
    const d = await driver(
      (t) => {
        const counts = t
          .table<string, User>('users', 'users-topic', { key: 'string', value: userSchema })
          .groupBy('by-region', (_k, u) => ({ key: u.region, value: u }), { key: 'string', value: userSchema })
          .count('users_per_region');
        t.source<string, string>('visits', { key: 'string', value: 'string' })
          .leftJoin(counts, (page, n) => `${page}:${n}`, { name: 'with-count' })
          .to(t.output('visits-out', { key: 'string', value: 'string' }));
      },
      { partitions: { 'users-topic': 3, visits: 2 } },
    );
    expect(d.partitionsOf('tables.v1.by-region.repartition')).toBe(2);
    for (const [k, v, ts] of USERS) await d.pipeInput('users-topic', k, v, ts);
    await d.pipeInputs(['A', 'B', 'C'].map((key, i) => ({ topic: 'visits', key, value: 'p', timestampMs: 10 + i })));
    expect(d.readOutput('visits-out.v1').map((r) => [r.key, r.value, r.timestamp])).toEqual(
      expect.arrayContaining([
        ['A', 'p:0', 10],
        ['B', 'p:1', 11],
        ['C', 'p:null', 12],
      ]),
    );
  });

  it('refuses a stream and a table of different partition counts, naming both', async () => {
    await expect(
      driver(
        (t) => {
          const users = t.table<string, User>('users', 'users-topic', { key: 'string', value: userSchema });
          t.source<string, string>('visits', { key: 'string', value: 'string' })
            .join(users, (p, u) => `${p}${u.region}`)
            .to(t.output('o', { key: 'string', value: 'string' }));
        },
        { partitions: { 'users-topic': 3, visits: 2 } },
      ),
    ).rejects.toThrow(/not co-partitioned: (visits \(2\), users-topic \(3\)|users-topic \(3\), visits \(2\))/);
  });
});

describe('a table made by GroupedStream.aggregate is a table like any other', () => {
  it('its groupBy retracts old aggregates: the stream aggregate forwards old values when asked', async () => {
    const d = await driver(
      (t) => {
        const perUser = t
          .source<string, string>('clicks', { key: 'string', value: 'string' })
          .groupByKey({ key: 'string' })
          .aggregate<number>('clicks_per_user', { initializer: () => 0, aggregator: (n) => n + 1, value: 'long' });
        perUser
          .groupBy('parity', (_k, n) => ({ key: n % 2 === 1 ? 'odd' : 'even', value: n }), {
            key: 'string',
            value: 'long',
          })
          .count('users_per_parity')
          .toStream()
          .to(t.output('parity', { key: 'string', value: 'long' }));
      },
      { maxBatchRecords: 1 },
    );
    for (const [i, user] of ['a', 'a', 'b'].entries()) await d.pipeInput('clicks', user, 'x', i + 1);
    expect(d.readOutput('parity.v1').map((r) => [r.key, r.value])).toEqual([
      ['odd', 1],
      ['odd', 0], // a: 1 -> 2 leaves odd
      ['even', 1],
      ['odd', 1],
    ]);
  });
});
