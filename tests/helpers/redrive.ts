/**
 * The redrive-then-replay scenario of issue 15 item 1, for both backends: orders joined with a global table of
 * customers (`onMissing: 'dead-letter'`) into totals per tier (through a repartition topic) and per customer and
 * hour (a window store). One customer is missing from the table at first, so v1 dead-letters its orders; the table
 * is fixed, the dead letters re-driven, v1 runs again (its second chance) and v2 replays from the beginning. Every
 * store and output is then compared with an independent computation over the fixed input.
 */
import { expect } from 'vitest';
import type { Log, LogRecord } from '../../src/log/contract.js';
import { partitionFor } from '../../src/log/partitioner.js';
import { tumbling } from '../../src/processors/window.js';
import { readStore } from '../../src/runtime/inspect.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { AvroSerde } from '../../src/schema/avro-serde.js';
import type { SchemaRegistry } from '../../src/schema/types.js';
import { topology } from '../../src/topology/builder.js';
import type { Topology } from '../../src/topology/graph.js';
import { topicConfigFor } from '../../src/topology/topic-config.js';

export const HOUR_MS = 3_600_000;
const T0 = Date.UTC(2013, 0, 1);

interface Order {
  id: string;
  customer: string;
  amount: number;
}
interface Customer {
  name: string;
  tier: string;
}
interface Totals {
  orders: number;
  total: number;
}

const ORDER = {
  type: 'record',
  name: 'RdOrder',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'customer', type: 'string' },
    { name: 'amount', type: 'int' },
  ],
};
const CUSTOMER = {
  type: 'record',
  name: 'RdCustomer',
  fields: [
    { name: 'name', type: 'string' },
    { name: 'tier', type: 'string' },
  ],
};
const TOTALS = {
  type: 'record',
  name: 'RdTotals',
  fields: [
    { name: 'orders', type: 'int' },
    { name: 'total', type: 'int' },
  ],
};
const ENRICHED = {
  type: 'record',
  name: 'RdEnriched',
  fields: [...ORDER.fields, { name: 'tier', type: 'string' }],
};

/** Topic names of one scenario (prefixed on Kafka so that runs never share topics). */
export interface RedriveNames {
  readonly topology: string;
  readonly orders: string;
  readonly customers: string;
  readonly totals: string;
}

export function redriveNames(prefix = ''): RedriveNames {
  return {
    topology: `${prefix}rd`,
    orders: `${prefix}rd-orders`,
    customers: `${prefix}rd-customers`,
    totals: `${prefix}rd-tier-totals`,
  };
}

/**
 * Version `version` of the scenario's topology. `graceMs` of the hourly windows: the default (10 days; the input spans 82 hours) keeps every
 * window open for the whole input, so re-driven copies are not late.
 */
export function buildRedrive(n: RedriveNames, version: number, graceMs = 10 * 24 * HOUR_MS): Topology {
  const t = topology({ name: n.topology, version });
  const orders = t.source<string, Order>(n.orders, { key: 'string', value: ORDER });
  const customers = t.globalTable<string, Customer>('customers', n.customers, { key: 'string', value: CUSTOMER });
  const totals = t.output<string, Totals>(n.totals, { key: 'string', value: TOTALS });
  const enriched = orders.join(
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
    .to(totals, 'to-totals');
  enriched
    .groupByKey({ key: 'string' })
    .windowedBy(tumbling({ sizeMs: HOUR_MS, graceMs }))
    .aggregate<Totals>('per_customer_hour', {
      value: TOTALS,
      keyName: 'customer',
      initializer: () => ({ orders: 0, total: 0 }),
      aggregator: (a, o) => ({ orders: a.orders + 1, total: a.total + o.amount }),
    });
  return t.build();
}

/** The missing customer: in no table at first, added by the fix. */
export const MISSING = 'c7';
const CUSTOMERS = Array.from({ length: 10 }, (_, i) => `c${i}`);
const tierOf = (c: string) => ['gold', 'silver', 'basic'][Number(c.slice(1)) % 3];

/** The input: `count` orders over 10 customers, one every 7 minutes (event time ascending). */
export function orders(count: number): { order: Order; timestamp: number }[] {
  return Array.from({ length: count }, (_, i) => ({
    order: { id: `o${i}`, customer: CUSTOMERS[(i * 7) % CUSTOMERS.length], amount: (i * 37) % 101 },
    timestamp: T0 + i * 7 * 60_000,
  }));
}

/** An independent computation over the fixed input: totals per tier, and per customer and hour. */
export function expected(input: readonly { order: Order; timestamp: number }[]) {
  const tiers = new Map<string, Totals>();
  const hours = new Map<string, Totals>();
  for (const { order, timestamp } of input) {
    const t = tiers.get(tierOf(order.customer)) ?? { orders: 0, total: 0 };
    tiers.set(tierOf(order.customer), { orders: t.orders + 1, total: t.total + order.amount });
    const k = `${order.customer}@${timestamp - (timestamp % HOUR_MS)}`;
    const h = hours.get(k) ?? { orders: 0, total: 0 };
    hours.set(k, { orders: h.orders + 1, total: h.total + order.amount });
  }
  return { tiers, hours };
}

/** The environment a scenario runs in: a log, a registry and a state directory. */
export interface RedriveEnv {
  readonly log: Log;
  readonly registry: SchemaRegistry;
  readonly stateDir: string;
}

/** Creates the input topics and writes the customers (all but `MISSING`) and the orders. */
export async function loadInput(env: RedriveEnv, n: RedriveNames, count: number, partitions = 3): Promise<void> {
  await env.log.createTopics([
    { name: n.orders, partitions, config: topicConfigFor('source') }, // event times of 2013: no time retention
    { name: n.customers, partitions: 1, compacted: true, config: topicConfigFor('global') },
  ]);
  await writeCustomers(
    env,
    n,
    CUSTOMERS.filter((c) => c !== MISSING),
  );
  const key = await AvroSerde.create<string>(env.registry, `${n.orders}-key`, 'string');
  const value = await AvroSerde.create<Order>(env.registry, `${n.orders}-value`, ORDER);
  const producer = env.log.producer();
  await producer.send(
    orders(count).map(({ order, timestamp }) => {
      const k = key.serialize(order.customer);
      return {
        topic: n.orders,
        partition: partitionFor(k, partitions),
        key: k,
        value: value.serialize(order),
        timestamp,
      };
    }),
  );
  await producer.close();
}

/** Writes customers to the global table's topic (the fix adds `MISSING`). */
export async function writeCustomers(env: RedriveEnv, n: RedriveNames, ids: readonly string[]): Promise<void> {
  const key = await AvroSerde.create<string>(env.registry, `${n.customers}-key`, 'string');
  const value = await AvroSerde.create<Customer>(env.registry, `${n.customers}-value`, CUSTOMER);
  const producer = env.log.producer();
  await producer.send(
    ids.map((c) => ({
      topic: n.customers,
      partition: 0,
      key: key.serialize(c),
      value: value.serialize({ name: c.toUpperCase(), tier: tierOf(c) }),
      timestamp: T0,
    })),
  );
  await producer.close();
}

/** Runs `versions` in one runner until idle; returns the runner (its stats per version). */
export async function runUntilIdle(env: RedriveEnv, versions: readonly Topology[]): Promise<TopologyRunner> {
  const runner = new TopologyRunner([...versions], {
    log: env.log,
    registry: env.registry,
    stateDir: env.stateDir,
    untilIdle: true,
    maxBatchRecords: 97,
  });
  await runner.run();
  return runner;
}

/** Every record of a topic (read_committed), partition by partition. */
export async function readAll(log: Log, topic: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  if ((await log.describeTopic(topic)) === undefined) return out;
  for (const o of await log.offsets(topic))
    for await (const b of log.read({ topic, partition: o.partition })) out.push(...b);
  return out;
}

/**
 * Checks a version's stores and output against the independent computation over the fixed input of `count` orders:
 * the stores hold exactly the expected rows, and the output's last value per tier (its table reading: the write cache
 * coalesces updates per batch, as Kafka Streams' record cache does) is the expected total.
 */
export async function expectEqualsIndependent(env: RedriveEnv, t: Topology, n: RedriveNames, count: number) {
  const want = expected(orders(count));
  const stores = async (name: string) =>
    readStore({ stateDir: env.stateDir, topology: t, store: t.stores.get(name)!, registry: env.registry });
  const tiers = (await stores('totals_by_tier')).map((r) => [r.tier, { orders: r.orders, total: r.total }]);
  expect(Object.fromEntries(tiers)).toEqual(Object.fromEntries(want.tiers));
  const hours = (await stores('per_customer_hour')).map((r) => [
    `${r.customer}@${Date.parse(String(r.window_start))}`,
    { orders: r.orders, total: r.total },
  ]);
  expect(Object.fromEntries(hours)).toEqual(Object.fromEntries(want.hours));
  const out = await readAll(env.log, `${n.totals}.v${t.version}`);
  expect(out.length).toBeGreaterThan(0);
  const key = await AvroSerde.create<string>(env.registry, `${n.totals}-key`, 'string');
  const value = await AvroSerde.create<Totals>(env.registry, `${n.totals}-value`, TOTALS);
  const last = new Map<string, Totals>();
  for (const r of out) {
    await key.prepare([AvroSerde.schemaIdOf(r.key!)]);
    await value.prepare([AvroSerde.schemaIdOf(r.value!)]);
    last.set(key.deserialize(r.key!), value.deserialize(r.value!));
  }
  expect(Object.fromEntries(last)).toEqual(Object.fromEntries(want.tiers));
}
