import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AgentFn, agentProcessor } from '../../src/processors/agent.js';
import type { Flowing } from '../../src/processors/context.js';
import { FakeContext, recs, view } from './fake-context.js';

let ctx: FakeContext;
beforeEach(() => {
  ctx = new FakeContext({ kv: ['counts'], taskId: '1_3', partition: 3 });
});
afterEach(() => ctx.close());

async function run<K, V, K2, V2>(fn: AgentFn<K, V, K2, V2>, records: readonly Flowing[]): Promise<Flowing[]> {
  return [...(await agentProcessor('agent', fn).process(records, ctx))];
}

const input = recs<string, number>([
  ['a', 1, 100],
  ['b', 2, 200],
  ['a', 3, 300],
  ['c', 4, 400],
]);

describe('agent', () => {
  it('yields records with the provenance and timestamp of the input record pulled last', async () => {
    const out = await run<string, number, string, number>(async function* (stream) {
      for await (const r of stream) if (r.value % 2 === 1) yield { key: r.key.toUpperCase(), value: r.value * 10 };
    }, input);
    expect(view(out)).toEqual([
      { key: 'A', value: 10, timestamp: 100, offset: 0 },
      { key: 'A', value: 30, timestamp: 300, offset: 2 },
    ]);
    expect(out[1].raw).toBe(input[2].raw);
  });

  it('an agent that buffers yields everything with the provenance of the record it read last', async () => {
    const out = await run<string, number, string, number>(async function* (stream) {
      const buf: number[] = [];
      for await (const r of stream) buf.push(r.value);
      for (const v of buf.slice(0, 3)) yield { key: 'sum', value: v };
    }, input);
    expect(view(out)).toEqual([1, 2, 3].map((value) => ({ key: 'sum', value, timestamp: 400, offset: 3 })));
  });

  it('an agent that stops reading its stream early fails, so the unread records are not committed as processed', async () => {
    await expect(
      run<string, number, string, number>(async function* (stream) {
        for await (const r of stream) {
          yield { key: r.key, value: r.value };
          if (r.value === 2) break;
        }
      }, input),
    ).rejects.toThrow(/agent agent returned after reading 2 of the 4 records/);
  });

  it('a yielded timestamp overrides the input one', async () => {
    const out = await run<string, number, string, number>(
      async function* (stream) {
        for await (const r of stream) yield { key: r.key, value: r.value, timestamp: r.timestamp + 1 };
      },
      input.slice(0, 2),
    );
    expect(out.map((r) => r.timestamp)).toEqual([101, 201]);
  });

  it('yielding before reading the stream fails with a message naming the agent', async () => {
    await expect(
      run<string, number, string, number>(async function* () {
        yield { key: 'x', value: 1 };
      }, input),
    ).rejects.toThrow('agent agent yielded before reading its stream');
  });

  it('a throw inside the agent fails the task (no dead-lettering)', async () => {
    await expect(
      run<string, number, string, number>(async function* (stream) {
        for await (const r of stream) if (r.key === 'b') throw new Error('agent broke');
        yield { key: 'never', value: 0 };
      }, input),
    ).rejects.toThrow('agent broke');
    expect(ctx.deadLetters).toEqual([]);
  });

  it('sees task id and partition; keeps state in its tables across batches (committed with the batch)', async () => {
    const counter: AgentFn<string, number, string, number> = async function* (stream, actx) {
      const counts = actx.table<string, number>('counts');
      for await (const r of stream) {
        const n = (counts.get(r.key) ?? 0) + 1;
        counts.put(r.key, n);
        yield { key: `${actx.taskId}/${actx.partition}/${r.key}`, value: n };
      }
    };
    expect((await run(counter, input)).map((r) => [r.key, r.value])).toEqual([
      ['1_3/3/a', 1],
      ['1_3/3/b', 1],
      ['1_3/3/a', 2],
      ['1_3/3/c', 1],
    ]);
    ctx.commit();
    const second = recs<string, number>([['a', 9, 500]], 4);
    expect((await run(counter, second)).map((r) => r.value)).toEqual([3]);
    ctx.rollback(); // the second batch aborted: its table writes are gone
    expect((await run(counter, second)).map((r) => r.value)).toEqual([3]);
    ctx.commit();
    expect([...ctx.kvStore<string, number>('counts').entries()]).toEqual([
      { key: 'a', value: 3 },
      { key: 'b', value: 1 },
      { key: 'c', value: 1 },
    ]);
  });

  it('an undeclared table fails with UNKNOWN_STORE', async () => {
    await expect(
      run<string, number, string, number>(async function* (stream, actx) {
        actx.table('nope');
        for await (const r of stream) yield { key: r.key, value: r.value };
      }, input),
    ).rejects.toMatchObject({ code: 'UNKNOWN_STORE', message: 'Unknown state store "nope". Known stores: counts.' });
  });

  it('an empty batch yields nothing (and the agent may yield nothing)', async () => {
    let calls = 0;
    const out = await run<string, number, string, number>(async function* (stream) {
      calls++;
      for await (const r of stream) yield { key: r.key, value: r.value };
    }, []);
    expect(out).toEqual([]);
    expect(calls).toBe(1);
  });
});
