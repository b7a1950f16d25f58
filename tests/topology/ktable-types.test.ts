/**
 * Type-level tests of tables: key and value types flow through t.table, filter, mapValues, toStream, groupBy and
 * its aggregations, and the stream–table and table–table joins. Compiled by the last test of types.test.ts.
 */
import { describe, expectTypeOf, it } from 'vitest';
import type { Rec } from '../../src/processors/context.js';
import { type GroupedTable, type Stream, type Table, topology } from '../../src/topology/builder.js';

interface User {
  region: string;
  score: number;
}
interface Click {
  page: string;
}
const strings = { key: 'string', value: 'string' } as const;

let n = 0;
const clicksByUser = (t: ReturnType<typeof topology>) =>
  t.table<number, { user: string; page: string }>(`by-id-${++n}`, `by-id-${n}`, strings);

describe('types flow through tables', () => {
  it('t.table, filter, mapValues, toStream', () => {
    const t = topology({ name: 't', version: 1 });
    const users = t.table<string, User>('users', 'users', strings);
    expectTypeOf(users).toEqualTypeOf<Table<string, User>>();
    expectTypeOf(users.filter((u, k) => u.score > 0 && k !== '')).toEqualTypeOf<Table<string, User>>();
    const scores = users.mapValues((u) => u.score);
    expectTypeOf(scores).toEqualTypeOf<Table<string, number>>();
    expectTypeOf(scores.toStream()).toEqualTypeOf<Stream<string, number>>();
    // @ts-expect-error a number has no region: mapValues changed the value type
    scores.filter((v) => v.region === 'A');
  });

  it('groupBy, aggregate, count, reduce', () => {
    const t = topology({ name: 't', version: 1 });
    const users = t.table<string, User>('users', 'users', strings);
    const byRegion = users.groupBy('by-region', (_k, u) => ({ key: u.region, value: u.score }), strings);
    expectTypeOf(byRegion).toEqualTypeOf<GroupedTable<string, number>>();
    expectTypeOf(byRegion.count('n')).toEqualTypeOf<Table<string, number>>();
    expectTypeOf(
      byRegion.reduce('r', { adder: (a, v) => a + v, subtractor: (a, v) => a - v, value: 'long' }),
    ).toEqualTypeOf<Table<string, number>>();
    const sums = byRegion.aggregate('s', {
      initializer: () => ({ total: 0 }),
      adder: (k, v, a) => {
        expectTypeOf(k).toEqualTypeOf<string>();
        expectTypeOf(v).toEqualTypeOf<number>();
        return { total: a.total + v };
      },
      subtractor: (_k, v, a) => ({ total: a.total - v }),
      value: 'long',
    });
    expectTypeOf(sums).toEqualTypeOf<Table<string, { total: number }>>();
  });

  it('stream–table and table–table joins', () => {
    const t = topology({ name: 't', version: 1 });
    const users = t.table<string, User>('users', 'users', strings);
    const regions = t.table<string, string>('regions', 'regions', strings);
    const clicks = t.source<string, Click>('clicks', strings);

    const inner = clicks.join(users, (c, u, r) => {
      expectTypeOf(u).toEqualTypeOf<User>();
      expectTypeOf(r).toEqualTypeOf<Rec<string, Click>>();
      return `${c.page}:${u.region}`;
    });
    expectTypeOf(inner).toEqualTypeOf<Stream<string, string>>();
    const left = clicks.leftJoin(users, (_c, u) => {
      expectTypeOf(u).toEqualTypeOf<User | null>();
      return u?.score ?? 0;
    });
    expectTypeOf(left).toEqualTypeOf<Stream<string, number>>();

    const j = users.join(regions, (u, r) => ({ ...u, name: r }), { name: 'j' });
    expectTypeOf(j).toEqualTypeOf<Table<string, { region: string; score: number; name: string }>>();
    users.leftJoin(
      regions,
      (u, r) => {
        expectTypeOf(u).toEqualTypeOf<User>();
        expectTypeOf(r).toEqualTypeOf<string | null>();
        return 1;
      },
      { name: 'lj' },
    );
    users.outerJoin(
      regions,
      (u, r) => {
        expectTypeOf(u).toEqualTypeOf<User | null>();
        expectTypeOf(r).toEqualTypeOf<string | null>();
        return 1;
      },
      { name: 'oj' },
    );

    const fkJoined = clicksByUser(t).join(
      users,
      (c) => c.user,
      (c, u) => {
        expectTypeOf(c).toEqualTypeOf<{ user: string; page: string }>();
        expectTypeOf(u).toEqualTypeOf<User>();
        return u.score;
      },
      { name: 'fk', schemas: { key: 'string', foreignKey: 'string', otherValue: 'string' } },
    );
    expectTypeOf(fkJoined).toEqualTypeOf<Table<number, number>>();
    clicksByUser(t).leftJoin(
      users,
      (c) => c.user,
      (_c, u) => {
        expectTypeOf(u).toEqualTypeOf<User | null>();
        return 1;
      },
      { name: 'fk2', schemas: { key: 'string', foreignKey: 'string', otherValue: 'string' } },
    );
    clicksByUser(t).join(
      users,
      // @ts-expect-error the foreign key must be the other table's key type
      (c) => c.page.length,
      (_c: unknown, u: User) => u.score,
      { name: 'fk3', schemas: { key: 'string', foreignKey: 'string', otherValue: 'string' } },
    );

    const numbers = t.table<number, string>('numbers', 'numbers', strings);
    // @ts-expect-error the keys differ: a table–table join is on equal keys
    users.join(numbers, (u, n) => [u, n], { name: 'bad' });
    // @ts-expect-error the keys differ: a stream–table join is on equal keys
    clicks.join(numbers, (c, n) => [c, n]);
  });
});
