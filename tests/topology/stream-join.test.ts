/**
 * Building a stream–stream join: its nodes, stores and sub-topology (OPERATORS.md rule 1), its parameters in the
 * fingerprint, its errors, and the types that flow through `join`/`leftJoin`/`outerJoin` (checked by compiling this
 * directory in types.test.ts).
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { type JoinWindows, joinWindows } from '../../src/processors/stream-join.js';
import { fingerprintChanges, fingerprintOf } from '../../src/replay/fingerprint.js';
import { type Stream, topology } from '../../src/topology/builder.js';

interface Order {
  id: string;
}
interface Payment {
  amount: number;
}
const ORDER = { type: 'record', name: 'Order', fields: [{ name: 'id', type: 'string' }] };
const PAYMENT = { type: 'record', name: 'Payment', fields: [{ name: 'amount', type: 'int' }] };

function build(opts: { kind?: 'inner' | 'left' | 'outer'; window?: JoinWindows; mapKey?: boolean } = {}) {
  const t = topology({ name: 'shop', version: 1 });
  let orders = t.source<string, Order>('orders', { key: 'string', value: ORDER }).filter((o) => o.id !== '', 'ok');
  if (opts.mapKey) orders = orders.map((r) => ({ key: r.key.toUpperCase(), value: r.value }), 'upper');
  const payments = t.source<string, Payment>('payments', { key: 'string', value: PAYMENT });
  const o = { name: 'paid', window: opts.window ?? joinWindows.of(1_000), values: { left: ORDER, right: PAYMENT } };
  const kind = opts.kind ?? 'inner';
  const joined =
    kind === 'inner'
      ? orders.join(payments, (l, r) => ({ id: l.id, amount: r.amount }), o)
      : kind === 'left'
        ? orders.leftJoin(payments, (l, r) => ({ id: l.id, amount: r?.amount ?? 0 }), o)
        : orders.outerJoin(payments, (l, r) => ({ id: l?.id ?? '', amount: r?.amount ?? 0 }), o);
  joined.to(t.output('paid', { key: 'string', value: 'string' }));
  return t.build();
}

describe('stream-stream join topology', () => {
  it('a node per side feeding the pass-through result node; both sides share the buffers, so one sub-topology', () => {
    const t = build({ kind: 'left', window: joinWindows({ beforeMs: 5, afterMs: 7, graceMs: 3 }) });
    const node = (n: string) => t.nodes.find((x) => x.name === n)!;
    const name = (id: number) => t.nodes[id].name;
    expect(node('paid-left').parents.map(name)).toEqual(['ok']);
    expect(node('paid-right').parents.map(name)).toEqual(['source:payments']);
    expect(node('paid').parents.map(name)).toEqual(['paid-left', 'paid-right']);
    expect(node('paid-left').stores).toEqual(['paid-left-store', 'paid-right-store', 'paid-unmatched-store']);
    expect(node('paid-left').params).toEqual({ kind: 'left', beforeMs: 5, afterMs: 7, graceMs: 3, side: 'left' });
    expect(t.subtopologies).toHaveLength(1);
    expect(t.subtopologies[0].sourceTopics).toEqual(['orders', 'payments']);
    const store = t.stores.get('paid-left-store')!;
    expect([store.kind, store.keySchema, store.valueSchema]).toEqual([
      'window',
      'string',
      { type: 'array', items: ORDER },
    ]);
    expect(t.stores.get('paid-unmatched-store')!.valueSchema).toEqual({
      type: 'record',
      name: 'Unmatched_paid',
      namespace: 'eddy.join',
      fields: [
        { name: 'left', type: { type: 'array', items: ORDER } },
        { name: 'right', type: { type: 'array', items: PAYMENT } },
      ],
    });
    expect(t.stores.get('paid-left-store')!.changelog).toBe('shop.v1.paid-left-store.changelog');
    // An inner join keeps no unmatched records.
    expect([...build().stores.keys()]).toEqual(['paid-left-store', 'paid-right-store']);
  });

  it('before, after, grace and the join kind enter the fingerprint', () => {
    const base = fingerprintOf(build({ window: joinWindows.of(1_000) }));
    for (const window of [
      joinWindows({ beforeMs: 999, afterMs: 1_000 }),
      joinWindows({ beforeMs: 1_000, afterMs: 1_001 }),
      joinWindows.of(1_000, 1),
    ]) {
      const changed = fingerprintOf(build({ window }));
      expect(changed.hash).not.toBe(base.hash);
      expect(fingerprintChanges(base, changed).some((c) => c.includes('"paid-left" changed'))).toBe(true);
    }
    expect(fingerprintOf(build({ kind: 'outer' })).hash).not.toBe(base.hash);
    expect(fingerprintOf(build({ window: joinWindows.of(1_000) })).hash).toBe(base.hash);
  });

  it('asks for the key schema when an upstream map may have changed the key; refuses missing options', () => {
    expect(() => build({ mapKey: true })).toThrow(
      'stream join "paid": cannot tell the key schema of its input (after "upper", a map); give it as the option key',
    );
    const t = topology({ name: 'x', version: 1 });
    const a = t.source<string, string>('a', { key: 'string', value: 'string' });
    const b = t.source<string, string>('b', { key: 'string', value: 'string' });
    // @ts-expect-error the window and value schemas are required
    expect(() => a.join(b, (l, r) => l + r, { name: 'ab' })).toThrow(
      'stream join "ab": options need window (joinWindows(...)) and values: { left, right } (the value schemas)',
    );
  });

  it('refuses a self-join (both sides from one topic): its results would depend on the batch size', () => {
    const t = topology({ name: 'self', version: 1 });
    const a = t.source<string, string>('a', { key: 'string', value: 'string' });
    const o = { name: 'aa', window: joinWindows.of(10), values: { left: 'string', right: 'string' } };
    const message = 'stream join "aa": both sides read topic a (a self-join, or two branches of one stream)';
    expect(() => a.join(a, (l, r) => l + r, o)).toThrow(message);
    expect(() =>
      a
        .filter(() => true, 'f')
        .join(
          a.mapValues((v) => v, 'm'),
          (l, r) => l + r,
          o,
        ),
    ).toThrow(message);
  });

  it('types: inner gets both values; left may miss the right one; outer may miss either', () => {
    const t = topology({ name: 'types', version: 1 });
    const orders = t.source<string, Order>('orders', { key: 'string', value: ORDER });
    const payments = t.source<string, Payment>('payments', { key: 'string', value: PAYMENT });
    const o = (name: string) => ({ name, window: joinWindows.of(10), values: { left: ORDER, right: PAYMENT } });
    const inner = orders.join(
      payments,
      (l, r, k) => {
        expectTypeOf(l).toEqualTypeOf<Order>();
        expectTypeOf(r).toEqualTypeOf<Payment>();
        expectTypeOf(k).toEqualTypeOf<string>();
        return r.amount;
      },
      o('i'),
    );
    expectTypeOf(inner).toEqualTypeOf<Stream<string, number>>();
    orders.leftJoin(
      payments,
      (l, r) => {
        expectTypeOf(l).toEqualTypeOf<Order>();
        expectTypeOf(r).toEqualTypeOf<Payment | null>();
        return l.id;
      },
      o('l'),
    );
    const outer = orders.outerJoin(
      payments,
      (l, r) => {
        expectTypeOf(l).toEqualTypeOf<Order | null>();
        expectTypeOf(r).toEqualTypeOf<Payment | null>();
        return { id: l?.id, amount: r?.amount };
      },
      o('o'),
    );
    expectTypeOf(outer).toEqualTypeOf<Stream<string, { id: string | undefined; amount: number | undefined }>>();
    const other = t.source<number, Payment>('numbered', { key: 'int', value: PAYMENT });
    // @ts-expect-error the two streams must have the same key type
    orders.join(other, (_l: Order, r: Payment) => r.amount, o('bad'));
  });
});
