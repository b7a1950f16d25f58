/**
 * The foreign-key table–table join (KIP-213) through `TopologyTestDriver`: the Kafka Streams DSL guide's table
 * "Semantics of table-table foreign-key joins", every row's input and expected output (the left value is
 * `{ fk }`, its foreign key; a joined row is `[fk, rightValue]`, null a tombstone), and a stale response (the left row
 * changed before its answer came back) dropped.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TopologyTestDriver, topology } from '../../src/index.js';

const drivers: TopologyTestDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
});

interface Row {
  fk: string | null;
}
const rowSchema = { type: 'record', name: 'Row', fields: [{ name: 'fk', type: ['null', 'string'] }] };
const joinedSchema = { type: 'array', items: ['null', 'string'] } as const;

async function fkDriver(kind: 'join' | 'leftJoin', opts = {}) {
  const t = topology({ name: 'fk', version: 1 });
  const left = t.table<string, Row>('left_table', 'left', { key: 'string', value: rowSchema });
  const right = t.table<string, string>('right_table', 'right', { key: 'string', value: 'string' });
  const schemas = { key: 'string', foreignKey: 'string', otherValue: 'string' } as const;
  const joined =
    kind === 'join'
      ? left.join(
          right,
          (r) => r.fk,
          (l, r) => [l.fk, r],
          { name: 'lr', schemas },
        )
      : left.leftJoin(
          right,
          (r) => r.fk,
          (l, r) => [l.fk, r],
          { name: 'lr', schemas },
        );
  joined.toStream().to(t.output('joined', { key: 'string', value: joinedSchema }));
  const d = await TopologyTestDriver.create(t.build(), opts);
  drivers.push(d);
  return d;
}

/** The docs' rows, in offset order: [side, key, value]. */
const ROWS: ['left' | 'right', string, Row | string | null][] = [
  ['right', '1', 'foo'],
  ['left', 'k', { fk: '1' }],
  ['left', 'k', { fk: '2' }],
  ['left', 'k', { fk: '3' }],
  ['right', '3', 'bar'],
  ['left', 'k', { fk: null }],
  ['left', 'k', { fk: '1' }],
  ['left', 'q', { fk: '10' }],
  ['left', 'r', { fk: '10' }],
  ['right', '10', 'baz'],
];

async function run(kind: 'join' | 'leftJoin', opts = {}) {
  const d = await fkDriver(kind, opts);
  for (const [i, [side, key, value]] of ROWS.entries()) await d.pipeInput(side, key, value, i + 1);
  return d.readOutput('joined.v1').map((r) => [r.key, r.value]);
}

describe('KTable-KTable foreign-key join semantics (Kafka Streams DSL guide)', () => {
  it('inner join', async () => {
    expect(await run('join')).toEqual([
      ['k', ['1', 'foo']],
      ['k', null],
      ['k', null],
      ['k', ['3', 'bar']],
      ['k', null],
      ['k', ['1', 'foo']],
      ['q', ['10', 'baz']],
      ['r', ['10', 'baz']],
    ]);
  });

  it('left join', async () => {
    expect(await run('leftJoin')).toEqual([
      ['k', ['1', 'foo']],
      ['k', ['2', null]],
      ['k', ['3', null]],
      ['k', ['3', 'bar']],
      ['k', [null, null]],
      ['k', ['1', 'foo']],
      ['q', ['10', null]],
      ['r', ['10', null]],
      ['q', ['10', 'baz']],
      ['r', ['10', 'baz']],
    ]);
  });

  it('the same outputs with 3 partitions on each side', async () => {
    const opts = { partitions: { left: 3, right: 3 } };
    expect(await run('leftJoin', opts)).toEqual(await run('leftJoin'));
  });

  it('drops a response to a left value that changed since (its hash no longer matches), counted', async () => {
    const d = await fkDriver('join');
    await d.pipeInput('right', '1', 'foo', 1);
    await d.pipeInput('right', '2', 'bar', 2);
    // one batch: both subscriptions leave before any response comes back
    await d.pipeInputs([
      { topic: 'left', key: 'k', value: { fk: '1' }, timestampMs: 3 },
      { topic: 'left', key: 'k', value: { fk: '2' }, timestampMs: 4 },
    ]);
    expect(d.readOutput('joined.v1').map((r) => [r.key, r.value])).toEqual([
      ['k', null], // fk 1's unsubscription: k's row left fk 1
      ['k', ['2', 'bar']],
    ]);
    expect(d.stats.droppedBy.get('lr-join')).toBe(1); // fk 1's answer "foo" was for {fk: '1'}: stale
    // a right update reaches the current subscriber only
    await d.pipeInput('right', '1', 'foo2', 5);
    await d.pipeInput('right', '2', 'bar2', 6);
    expect(d.readOutput('joined.v1').map((r) => [r.key, r.value])).toEqual([['k', ['2', 'bar2']]]);
    expect(d.kvStore('lr-subscriptions').get('1')).toBeUndefined();
  });

  it('a result table that keeps no store cannot be joined on its key', () => {
    const t = topology({ name: 'fk', version: 1 });
    const left = t.table<string, Row>('l', 'l', { key: 'string', value: rowSchema });
    const right = t.table<string, string>('r', 'r', { key: 'string', value: 'string' });
    const schemas = { key: 'string', foreignKey: 'string', otherValue: 'string' } as const;
    const j = left.join(
      right,
      (v) => v.fk,
      (l, r) => `${l.fk}${r}`,
      { name: 'lr', schemas },
    );
    expect(() => j.join(right, (a, b) => a + b, { name: 'again' })).toThrow(/foreign-key join lr cannot be joined/);
    // filter and groupBy need old values it cannot give, also through mapValues
    expect(() => j.filter((v) => v !== '')).toThrow(/foreign-key join lr forwards no old values/);
    expect(() =>
      j.mapValues((v) => v.length).groupBy('g', (k, n) => ({ key: k, value: n }), { key: 'string', value: 'long' }),
    ).toThrow(/foreign-key join lr forwards no old values/);
    j.mapValues((v) => v.length).toStream(); // streaming it is fine
  });
});
