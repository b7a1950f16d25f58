/** A small topology for the test driver's tests: orders joined with customers, totals per tier, windows per customer. */

import type { Topology } from '../../src/index.js';
import { topology, tumbling } from '../../src/index.js';

export interface Order {
  id: string;
  customer: string;
  amount: number;
}
export interface Customer {
  name: string;
  tier: string;
}
export interface Totals {
  orders: number;
  total: number;
}
export interface CustomerSecond extends Totals {
  customer: string;
  window_start: number;
}

const ORDER = {
  type: 'record',
  name: 'Order',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'customer', type: 'string' },
    { name: 'amount', type: 'int' },
  ],
};
const CUSTOMER = {
  type: 'record',
  name: 'Customer',
  fields: [
    { name: 'name', type: 'string' },
    { name: 'tier', type: 'string' },
  ],
};
const TOTALS = {
  type: 'record',
  name: 'Totals',
  fields: [
    { name: 'orders', type: 'int' },
    { name: 'total', type: 'int' },
  ],
};
const ENRICHED = {
  type: 'record',
  name: 'EnrichedOrder',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'customer', type: 'string' },
    { name: 'amount', type: 'int' },
    { name: 'tier', type: 'string' },
  ],
};
const CUSTOMER_SECOND = {
  type: 'record',
  name: 'CustomerSecond',
  fields: [
    { name: 'customer', type: 'string' },
    { name: 'window_start', type: 'long' },
    { name: 'orders', type: 'int' },
    { name: 'total', type: 'int' },
  ],
};

/**
 * `shop` v1: `orders` (key: customer) -> amount checked (a negative amount throws: dead letter) -> joined with the
 * global table of `customers` (unknown customer: dead letter) -> (a) totals per tier through a repartition topic into
 * store `totals_by_tier` and output `tier-totals.v1`; (b) per customer and second (tumbling 1 s, no grace) into
 * window store `per_customer_second`, emitted to `customer-seconds.v1` when the window closes.
 * `badOutput`: the tier totals are written with a value that does not fit the output's schema.
 */
export function buildShop(opts: { badOutput?: boolean } = {}): Topology {
  const t = topology({ name: 'shop', version: 1 });
  const orders = t.source<string, Order>('orders', { key: 'string', value: ORDER });
  const customers = t.globalTable<string, Customer>('customers', 'customers', { key: 'string', value: CUSTOMER });
  const tierTotals = t.output<string, Totals>('tier-totals', { key: 'string', value: TOTALS });
  const seconds = t.output<string, CustomerSecond>('customer-seconds', { key: 'string', value: CUSTOMER_SECOND });
  const enriched = orders
    .mapValues((o) => {
      if (o.amount < 0) throw new Error(`negative amount ${o.amount}`);
      return o;
    }, 'check-amount')
    .join(
      customers,
      (r) => r.value.customer,
      (o, c) => ({ ...o, tier: c.tier }),
      { name: 'enrich', onMissing: 'dead-letter' },
    );
  enriched
    .groupBy('by_tier', (r) => r.value.tier, { key: 'string', value: ENRICHED })
    .aggregate<Totals>('totals_by_tier', {
      value: TOTALS,
      keyName: 'tier',
      initializer: () => ({ orders: 0, total: 0 }),
      aggregator: (a, o) => ({ orders: a.orders + 1, total: a.total + o.amount }),
    })
    .toStream()
    .mapValues((v) => (opts.badOutput ? ({ orders: 'many', total: v.total } as unknown as Totals) : v), 'shape')
    .to(tierTotals, 'to-tier-totals');
  enriched
    .groupByKey({ key: 'string' })
    .windowedBy(tumbling({ sizeMs: 1000 }))
    .aggregate<Totals>('per_customer_second', {
      value: TOTALS,
      keyName: 'customer',
      initializer: () => ({ orders: 0, total: 0 }),
      aggregator: (a, o) => ({ orders: a.orders + 1, total: a.total + o.amount }),
    })
    .toStream((customer, w, a) => ({ key: customer, value: { customer, window_start: w.startMs, ...a } }), 'per-second')
    .to(seconds, 'to-customer-seconds');
  return t.build();
}
