import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer } from '../../src/runtime/http.js';
import { QueryGate, QueryOverloadError, QueryQueueTimeoutError } from '../../src/runtime/query-gate.js';

/** A promise with its resolve exposed: a query that finishes when the test says so (no timing). */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('QueryGate', () => {
  it('runs maxConcurrent at once, queues maxQueued, refuses the rest at once as retriable QUERY_OVERLOAD', async () => {
    const gate = new QueryGate({ maxConcurrent: 2, maxQueued: 1 });
    const release = [deferred<void>(), deferred<void>(), deferred<void>()];
    const started: number[] = [];
    const runs = [0, 1, 2].map((i) =>
      gate.run(60_000, async () => {
        started.push(i);
        await release[i].promise;
        return i;
      }),
    );
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect([gate.active, gate.waiting]).toEqual([2, 1]);
    const refused = await gate.run(60_000, async () => 99).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(QueryOverloadError);
    expect((refused as QueryOverloadError).retriable).toBe(true);
    expect((refused as QueryOverloadError).details.retryAfterSeconds).toBe(60);
    expect(gate.refused).toBe(1);
    release[0].resolve();
    expect(await runs[0]).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]); // the slot went to the queued query
    expect([gate.active, gate.waiting]).toEqual([2, 0]);
    release[1].resolve();
    release[2].resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2]);
    expect(gate.active).toBe(0);
  });

  it('a query that waits its whole time limit is refused without running, and its place is freed', async () => {
    const gate = new QueryGate({ maxConcurrent: 1, maxQueued: 4 });
    const hold = deferred<void>();
    const first = gate.run(60_000, () => hold.promise);
    let ran = false;
    const late = await gate
      .run(20, async () => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(late).toBeInstanceOf(QueryQueueTimeoutError);
    expect(ran).toBe(false);
    expect([gate.waiting, gate.timedOut]).toEqual([0, 1]);
    hold.resolve();
    await first;
    expect(gate.active).toBe(0);
    expect(await gate.run(1_000, async (left) => left)).toBeGreaterThan(0);
  });

  it('releases the slot when the query throws', async () => {
    const gate = new QueryGate({ maxConcurrent: 1, maxQueued: 0 });
    await expect(gate.run(1_000, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(gate.active).toBe(0);
    expect(await gate.run(1_000, async () => 'ok')).toBe('ok');
  });

  it('refuses limits that would never admit a query', () => {
    expect(() => new QueryGate({ maxConcurrent: 0, maxQueued: 1 })).toThrow(RangeError);
    expect(() => new QueryGate({ maxConcurrent: 1, maxQueued: -1 })).toThrow(RangeError);
  });
});

describe('HTTP queries under load', () => {
  const servers: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  it('beyond the limits /sql answers 429 with Retry-After, a queued query past its limit 408, and /health never waits', async () => {
    const hold = deferred<void>();
    let running = 0;
    let maxRunning = 0;
    const s = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      handlers: {
        readiness: () => ({ ready: true, phase: 'running', tasks: [] }),
        metrics: async () => '',
        metricsContentType: 'text/plain',
        queryLimits: { maxConcurrent: 2, maxQueued: 2 },
        queryTimeoutMs: 30_000,
        sql: async () => {
          running++;
          maxRunning = Math.max(maxRunning, running);
          await hold.promise;
          running--;
          return { columns: ['n'], rows: [{ n: 1 }], truncated: false };
        },
        store: async () => ({ rows: [], truncated: false }),
      },
    });
    servers.push(s);
    const url = (p: string) => `http://127.0.0.1:${s.port}${p}`;
    // 2 run and 2 wait; every further query is refused at once
    const admitted = [0, 1, 2, 3].map(() => fetch(url('/sql?q=select%201')));
    await new Promise((r) => setTimeout(r, 200));
    const extra = await Promise.all([0, 1, 2, 3, 4, 5].map(() => fetch(url('/sql?q=select%201'))));
    for (const r of extra) {
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toBe('30');
      expect((await r.json()).error.code).toBe('QUERY_OVERLOAD');
    }
    const refusedStore = await fetch(url('/stores/x'));
    expect(refusedStore.status).toBe(429);
    await refusedStore.text();
    const health = await fetch(url('/health'));
    expect(health.status).toBe(200);
    await health.text();
    expect((await fetch(url('/ready'))).status).toBe(200);
    hold.resolve();
    const answers = await Promise.all(admitted);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    for (const r of answers) await r.text();
    expect(maxRunning).toBe(2);
  });

  it('a query that waited its whole limit behind others is 408 QUERY_TIMEOUT', async () => {
    const hold = deferred<void>();
    const s = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      handlers: {
        readiness: () => ({ ready: true, phase: 'running', tasks: [] }),
        metrics: async () => '',
        metricsContentType: 'text/plain',
        queryLimits: { maxConcurrent: 1, maxQueued: 4 },
        queryTimeoutMs: 100,
        sql: async () => {
          await hold.promise;
          return { columns: [], rows: [], truncated: false };
        },
      },
    });
    servers.push(s);
    const first = fetch(`http://127.0.0.1:${s.port}/sql?q=select%201`);
    await new Promise((r) => setTimeout(r, 50));
    const second = await fetch(`http://127.0.0.1:${s.port}/sql?q=select%202`);
    expect(second.status).toBe(408);
    expect((await second.json()).error.code).toBe('QUERY_TIMEOUT');
    hold.resolve();
    expect((await first).status).toBe(200);
  });
});
