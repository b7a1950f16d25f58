import { afterEach, describe, expect, it } from 'vitest';
import { buildFlightDelays } from '../../examples/flight-delays/topology.js';
import type { Airport, DelayStats, Flight } from '../../examples/flight-delays/types.js';
import type { Flowing } from '../../src/processors/context.js';
import type { GraphNode, Topology } from '../../src/topology/graph.js';
import { splitSubtopologies } from '../../src/topology/graph.js';
import { FakeContext, rec } from '../processors/fake-context.js';

const HOUR_MS = 3_600_000;

describe('sub-topologies of flight-delays v1', () => {
  const t = buildFlightDelays();
  const names = (ids: readonly number[]) => ids.map((i) => t.nodes[i].name);

  it('splits at the repartition topic into two sub-topologies', () => {
    expect(t.subtopologies).toHaveLength(2);
    const [s0, s1] = t.subtopologies;
    expect(s0.id).toBe(0);
    expect(s0.sourceTopics).toEqual(['flights']);
    expect(names(s0.nodes)).toEqual([
      'source:flights',
      'validate',
      'enrich-origin',
      'enrich-destination',
      'delays_by_airport_hour',
      'hourly-final',
      'to-airport-delays-hourly',
      'route_stats-key',
      'route_stats-sink',
    ]);
    expect(s0.stores).toEqual(['delays_by_airport_hour']);
    expect(s1.id).toBe(1);
    expect(s1.sourceTopics).toEqual(['flight-delays.v1.route_stats.repartition']);
    expect(names(s1.nodes)).toEqual(['route_stats-source', 'route_stats']);
    expect(s1.stores).toEqual(['route_stats']);
  });

  it('every node is in exactly one sub-topology', () => {
    const all = t.subtopologies.flatMap((s) => s.nodes).sort((a, b) => a - b);
    expect(all).toEqual(t.nodes.map((n) => n.id));
  });

  it('declares its topics, stores and names as DESIGN.md says', () => {
    expect(
      Object.fromEntries(
        [...t.topics.values()].map((tp) => [tp.name, `${tp.role}${tp.compacted ? ',compacted' : ''}`]),
      ),
    ).toEqual({
      flights: 'source',
      airports: 'global,compacted',
      'airport-delays-hourly.v1': 'output',
      'flight-delays.v1.delays_by_airport_hour.changelog': 'changelog,compacted',
      'flight-delays.v1.route_stats.repartition': 'repartition',
      'flight-delays.v1.route_stats.changelog': 'changelog,compacted',
      'flight-delays.v1.dlq': 'dlq',
    });
    expect([...t.stores.values()].map((s) => [s.name, s.kind, s.changelog, s.keyName])).toEqual([
      ['delays_by_airport_hour', 'window', 'flight-delays.v1.delays_by_airport_hour.changelog', 'airport'],
      ['route_stats', 'kv', 'flight-delays.v1.route_stats.changelog', 'route'],
    ]);
    expect(t.stores.get('delays_by_airport_hour')!.window).toEqual({
      sizeMs: HOUR_MS,
      advanceMs: HOUR_MS,
      graceMs: 600_000,
    });
    expect(t.deadLetterTopic).toBe('flight-delays.v1.dlq');
    expect(t.groupId).toBe('flight-delays.v1');
    expect([...t.globalTables.keys()]).toEqual(['airports']);
  });
});

describe('splitSubtopologies', () => {
  const node = (
    id: number,
    kind: GraphNode['kind'],
    parents: number[],
    children: number[],
    topic?: string,
    stores: string[] = [],
  ): GraphNode => ({
    id,
    name: `n${id}`,
    kind,
    parents,
    children,
    topic,
    stores,
  });

  it('orders nodes topologically (a diamond, a node listed before its parent) and numbers sub-topologies by first node', () => {
    const nodes: GraphNode[] = [
      node(0, 'source', [], [2], 'b-topic'),
      node(1, 'source', [], [5], 'a-topic'),
      node(2, 'map', [0], [4, 3]),
      node(3, 'filter', [2], [6], undefined, ['s1']),
      node(4, 'filter', [2], [6], undefined, ['s1', 's2']),
      node(5, 'sink', [1], [], 'out'),
      node(6, 'sink', [3, 4], [], 'out'),
    ];
    const subs = splitSubtopologies(nodes, (n) => n.stores);
    expect(subs).toEqual([
      { id: 0, sourceTopics: ['b-topic'], nodes: [0, 2, 3, 4, 6], stores: ['s1', 's2'] },
      { id: 1, sourceTopics: ['a-topic'], nodes: [1, 5], stores: [] },
    ]);
  });

  it('a sub-topology may read several topics (co-partitioned inputs merged into one node)', () => {
    const nodes: GraphNode[] = [
      node(0, 'source', [], [2], 'x'),
      node(1, 'source', [], [2], 'y'),
      node(2, 'sink', [0, 1], [], 'z'),
    ];
    expect(splitSubtopologies(nodes, () => [])).toEqual([
      { id: 0, sourceTopics: ['x', 'y'], nodes: [0, 1, 2], stores: [] },
    ]);
  });
});

/**
 * Runs one batch through a sub-topology the way the runtime's task does (node order, each node's output to its
 * children), with the fake context standing in for the task.
 */
async function drive(t: Topology, sub: number, records: Flowing[], ctx: FakeContext): Promise<void> {
  const s = t.subtopologies[sub];
  const inputs = new Map<number, Flowing[]>([[s.nodes[0], records]]);
  for (const id of s.nodes) {
    const n = t.nodes[id];
    const input = inputs.get(id) ?? [];
    const out = n.processor === undefined ? input : await n.processor.process(input, ctx);
    for (const c of n.children) inputs.set(c, [...(inputs.get(c) ?? []), ...out]);
  }
}

describe('flight-delays v1 processors, driven without a log', () => {
  const airports = new Map<string, Airport>([
    [
      'SFO',
      {
        iata: 'SFO',
        name: 'San Francisco Intl',
        city: 'San Francisco',
        state: 'CA',
        country: 'USA',
        latitude: 37.6,
        longitude: -122.4,
      },
    ],
    [
      'BOS',
      { iata: 'BOS', name: 'Logan Intl', city: 'Boston', state: 'MA', country: 'USA', latitude: 42.4, longitude: -71 },
    ],
  ]);
  const contexts: FakeContext[] = [];
  afterEach(() => {
    for (const c of contexts.splice(0)) c.close();
  });
  const flight = (origin: string, destination: string, delay: number, date: number, offset: number) =>
    rec<string, Flight>(origin, { date, delay, distance: 2704, origin, destination }, date, offset, 'flights');

  it('validates, enriches, emits closed airport-hours and repartitions by route; sub 1 aggregates per route', async () => {
    const t = buildFlightDelays();
    const ctx0 = new FakeContext({ window: ['delays_by_airport_hour'], globals: { airports } });
    contexts.push(ctx0);
    const h0 = Date.UTC(2001, 0, 1, 0);
    const input = [
      flight('SFO', 'BOS', 20, h0 + 60_000, 0),
      flight('SFO', 'BOS', 5000, h0 + 120_000, 1), // invalid delay
      flight('XXX', 'BOS', 1, h0 + 180_000, 2), // unknown origin
      flight('SFO', 'YYY', 1, h0 + 240_000, 3), // unknown destination
      flight('SFO', 'BOS', -10, h0 + 300_000, 4),
      flight('BOS', 'SFO', 0, h0 + HOUR_MS + 10 * 60_000, 5), // closes SFO's first hour (end + 10 min grace)
    ];
    await drive(t, 0, input, ctx0);
    expect(ctx0.deadLetters.map((d) => [d.rec.origin.offset, d.processor, d.reason])).toEqual([
      [1, 'validate', 'delay 5000 min outside [-120, 1800]'],
      [2, 'enrich-origin', 'no key "XXX" in table airports'],
      [3, 'enrich-destination', 'no key "YYY" in table airports'],
    ]);
    expect(
      ctx0.sent.filter((s) => s.topic === 'airport-delays-hourly.v1').map((s) => [s.rec.key, s.rec.value]),
    ).toEqual([
      [
        'SFO',
        {
          airport: 'SFO',
          window_start: h0,
          window_end: h0 + HOUR_MS,
          flights: 2,
          delayed: 1,
          total_delay: 10,
          max_delay: 20,
          avg_delay: 5,
        },
      ],
    ]);
    const repartitioned = ctx0.sent
      .filter((s) => s.topic === 'flight-delays.v1.route_stats.repartition')
      .map((s) => s.rec);
    expect(repartitioned.map((r) => [r.key, r.origin.offset])).toEqual([
      ['SFO-BOS', 0],
      ['SFO-BOS', 4],
      ['BOS-SFO', 5],
    ]);
    expect(repartitioned[0].value).toEqual({
      date: h0 + 60_000,
      delay: 20,
      distance: 2704,
      origin: 'SFO',
      destination: 'BOS',
      origin_city: 'San Francisco',
      origin_state: 'CA',
      dest_city: 'Boston',
      dest_state: 'MA',
    });

    const ctx1 = new FakeContext({ kv: ['route_stats'] });
    contexts.push(ctx1);
    await drive(t, 1, repartitioned, ctx1);
    ctx1.commit();
    expect([...ctx1.kvStore<string, DelayStats>('route_stats').entries()]).toEqual([
      { key: 'BOS-SFO', value: { flights: 1, delayed: 0, total_delay: 0, max_delay: 0, avg_delay: 0 } },
      { key: 'SFO-BOS', value: { flights: 2, delayed: 1, total_delay: 10, max_delay: 20, avg_delay: 5 } },
    ]);
  });
});
