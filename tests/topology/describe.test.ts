import { describe, expect, it } from 'vitest';
import { buildFlightDelays } from '../../examples/flight-delays/topology.js';
import { tumbling } from '../../src/processors/window.js';
import { topology } from '../../src/topology/builder.js';
import { describeMermaid, describeText } from '../../src/topology/describe.js';

const flightDelays = buildFlightDelays();

function small() {
  const t = topology({ name: 'shop', version: 2, description: 'orders per customer' });
  const customers = t.globalTable<string, string>('customers', 'customers', { key: 'string', value: 'string' });
  t.source<string, number>('orders', { key: 'string', value: 'long' })
    .join(
      customers,
      (r) => r.key,
      (v) => v,
      { name: 'known' },
    )
    .groupByKey({ key: 'string' })
    .windowedBy(tumbling({ sizeMs: 60_000, graceMs: 1_000 }))
    .aggregate('per_minute', { value: 'long', initializer: () => 0, aggregator: (a, v) => a + v })
    .toStream((k, _w, a) => ({ key: k, value: a }), 'final')
    .to(t.output('minutes', { key: 'string', value: 'long' }), 'to-minutes');
  return t.build();
}

describe('describeText', () => {
  it('prints sub-topologies, nodes with children, topics and stores', () => {
    expect(describeText(small())).toBe(
      [
        'Topology: shop v2 — orders per customer',
        '  consumer group: shop.v2',
        '  Global table: customers <- customers (compacted)',
        '  Sub-topology: 0',
        '    SOURCE source:orders [source] (topic: orders) --> known',
        '    PROCESSOR known [join] (stores: customers) --> per_minute',
        '    PROCESSOR per_minute [window-aggregate] (stores: per_minute) --> final',
        '    PROCESSOR final [to-stream] --> to-minutes',
        '    SINK to-minutes [sink] (topic: minutes.v2)',
        '  Topics:',
        '    customers [global, compacted]',
        '    minutes.v2 [output]',
        '    orders [source]',
        '    shop.v2.dlq [dlq]',
        '    shop.v2.per_minute.changelog [changelog, compacted]',
        '  Stores:',
        '    per_minute [window size 60000ms/advance 60000ms/grace 1000ms] changelog: shop.v2.per_minute.changelog',
      ].join('\n'),
    );
  });

  it('names every node and every topic of flight-delays, and both sub-topologies', () => {
    const text = describeText(flightDelays);
    for (const n of flightDelays.nodes) expect(text).toContain(` ${n.name} [${n.kind}]`);
    for (const topic of flightDelays.topics.keys()) expect(text).toContain(`    ${topic} [`);
    for (const s of flightDelays.stores.values()) expect(text).toContain(`    ${s.name} [${s.kind}`);
    expect(text.split('\n').filter((l) => l.startsWith('  Sub-topology: '))).toEqual([
      '  Sub-topology: 0',
      '  Sub-topology: 1',
    ]);
    expect(text).toContain(
      '    PROCESSOR enrich-destination [join] (stores: airports) --> delays_by_airport_hour, route_stats-key',
    );
    expect(text).toContain('    SINK route_stats-sink [sink] (topic: flight-delays.v1.route_stats.repartition)');
  });
});

describe('describeMermaid', () => {
  const mermaid = describeMermaid(flightDelays);
  const lines = mermaid.split('\n');

  it('starts with flowchart TD and has one subgraph per sub-topology, holding its nodes', () => {
    expect(lines[0]).toBe('flowchart TD');
    const subgraphs = lines.filter((l) => l.trimStart().startsWith('subgraph '));
    expect(subgraphs).toEqual(['  subgraph sub0["sub-topology 0"]', '  subgraph sub1["sub-topology 1"]']);
    expect(lines.filter((l) => l.trim() === 'end')).toHaveLength(2);
    const start1 = lines.indexOf(subgraphs[1]);
    expect(lines.slice(start1 + 1, start1 + 4)).toEqual([
      '    n9["route_stats-source<br/><small>source</small>"]',
      '    n10["route_stats<br/><small>aggregate</small>"]',
      '  end',
    ]);
  });

  it('has every node once, every edge, topics as stadiums and stores as cylinders', () => {
    for (const n of flightDelays.nodes) {
      expect(lines.filter((l) => l.startsWith(`    n${n.id}[`))).toEqual([
        `    n${n.id}["${n.name}<br/><small>${n.kind}</small>"]`,
      ]);
      for (const c of n.children) expect(lines).toContain(`  n${n.id} --> n${c}`);
    }
    expect(lines).toContain('  t_flights(["flights"])');
    expect(lines).toContain('  t_flights --> n0');
    expect(lines).toContain('  n8 --> t_flight_delays_v1_route_stats_repartition');
    expect(lines).toContain('  t_flight_delays_v1_route_stats_repartition --> n9');
    expect(lines).toContain('  s_route_stats[("route_stats")]');
    expect(lines).toContain('  s_route_stats -.-> t_flight_delays_v1_route_stats_changelog');
    expect(lines).toContain('  t_airports -.-> s_airports');
    expect(lines).toContain('  t_flight_delays_v1_dlq(["flight-delays.v1.dlq"])');
  });

  it('declares each topic and store once, and every edge joins declared nodes', () => {
    const declared = lines
      .map((l) => /^\s+([A-Za-z0-9_]+)[[(]/.exec(l)?.[1])
      .filter((x): x is string => x !== undefined);
    expect(new Set(declared).size).toBe(declared.length);
    for (const topic of flightDelays.topics.keys()) expect(mermaid).toContain(`(["${topic}"])`);
    const edges = lines.filter((l) => / (-->|-\.->|-\.-) /.test(l));
    expect(edges.length).toBeGreaterThan(flightDelays.nodes.length);
    for (const e of edges) {
      const [from, , to] = e.trim().split(' ');
      expect(declared).toContain(from);
      expect(declared).toContain(to);
    }
    // nothing but declarations, edges, subgraph frames and the header
    expect(
      lines.filter(
        (l) =>
          !/^\s+([A-Za-z0-9_]+)[[(]/.test(l) && !edges.includes(l) && !/^\s*(subgraph |end$|flowchart TD$)/.test(l),
      ),
    ).toEqual([]);
  });
});
