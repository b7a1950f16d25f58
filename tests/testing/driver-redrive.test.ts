/**
 * The test driver re-drives as `eddy dlq redrive` does and treats re-driven copies as the runtime does
 * (src/runtime/redriven.ts): the version that dead-lettered the originals processes the copies once; another
 * version, piped the whole input with the copies, skips them (counted) and ends with the same result.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TopologyTestDriver } from '../../src/index.js';
import { buildRedrive, expected, MISSING, orders, redriveNames } from '../helpers/redrive.js';

const names = redriveNames();
const COUNT = 120;
const drivers: TopologyTestDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
});
const customer = (c: string) => ({ name: c.toUpperCase(), tier: ['gold', 'silver', 'basic'][Number(c.slice(1)) % 3] });
const CUSTOMERS = Array.from({ length: 10 }, (_, i) => `c${i}`);

async function driver(version: number): Promise<TopologyTestDriver> {
  const d = await TopologyTestDriver.create(buildRedrive(names, version), { partitions: { [names.orders]: 3 } });
  drivers.push(d);
  return d;
}

describe('TopologyTestDriver: redrive', () => {
  it('v1 processes its re-driven copies once; v2, piped originals and copies, skips the copies', async () => {
    const want = Object.fromEntries(expected(orders(COUNT)).tiers);
    const missing = orders(COUNT).filter((o) => o.order.customer === MISSING).length;
    const v1 = await driver(1);
    await v1.pipeInputs(
      CUSTOMERS.filter((c) => c !== MISSING).map((c) => ({ topic: names.customers, key: c, value: customer(c) })),
    );
    await v1.pipeInputs(
      orders(COUNT).map((o) => ({
        topic: names.orders,
        key: o.order.customer,
        value: o.order,
        timestampMs: o.timestamp,
      })),
    );
    expect(v1.readDeadLetters()).toHaveLength(missing);
    await v1.pipeInput(names.customers, MISSING, customer(MISSING)); // the fix
    expect(await v1.redriveDeadLetters()).toBe(missing);
    expect(await v1.redriveDeadLetters()).toBe(0); // each dead letter once
    expect(v1.readDeadLetters()).toHaveLength(0);
    expect(v1.stats.totalRedrivenSkipped()).toBe(0);
    const totals = (d: TopologyTestDriver) =>
      Object.fromEntries(
        d
          .kvStore<string, unknown>('totals_by_tier')
          .all()
          .map((e) => [e.key, e.value]),
      );
    expect(totals(v1)).toEqual(want);

    const v2 = await driver(2);
    await v2.pipeInputs(CUSTOMERS.map((c) => ({ topic: names.customers, key: c, value: customer(c) })));
    const input = v1.records(names.orders);
    expect(input.filter((r) => r.headers['eddy.redrive.version']?.toString() === 'rd.v1')).toHaveLength(missing);
    await v2.pipeRawInputs(
      input.map((r) => ({
        topic: r.topic,
        partition: r.partition,
        key: r.key,
        value: r.value,
        timestampMs: r.timestamp,
        headers: r.headers,
      })),
    );
    expect(v2.stats.redrivenSkipped.get(names.orders)).toBe(missing);
    expect(v2.stats.totalIn([names.orders])).toBe(COUNT);
    expect(v2.readDeadLetters()).toHaveLength(0);
    expect(totals(v2)).toEqual(want);
  });
});
