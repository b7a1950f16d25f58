import type { GraphNode, Topology } from './graph.js';

/**
 * The topology as text, in the shape of Kafka Streams' `TopologyDescription`: sub-topologies, their nodes with
 * children, stores and topics, then the topics and stores of the version.
 */
export function describeText(t: Topology): string {
  const lines: string[] = [
    `Topology: ${t.name} v${t.version}${t.description ? ` — ${t.description}` : ''}`,
    `  consumer group: ${t.groupId}`,
  ];
  for (const g of t.globalTables.values()) lines.push(`  Global table: ${g.name} <- ${g.topic} (compacted)`);
  for (const s of t.subtopologies) {
    lines.push(`  Sub-topology: ${s.id}`);
    for (const id of s.nodes) {
      const n = t.nodes[id];
      const extra: string[] = [];
      if (n.kind === 'source') extra.push(`topic: ${n.topic}`);
      else if (n.kind === 'sink') extra.push(`topic: ${n.topic}`);
      if (n.stores.length > 0) extra.push(`stores: ${n.stores.join(', ')}`);
      const kids = n.children.map((c) => t.nodes[c].name);
      lines.push(
        `    ${label(n)}${extra.length ? ` (${extra.join('; ')})` : ''}${kids.length ? ` --> ${kids.join(', ')}` : ''}`,
      );
    }
  }
  lines.push('  Topics:');
  for (const tp of [...t.topics.values()].sort((a, b) => a.name.localeCompare(b.name)))
    lines.push(`    ${tp.name} [${tp.role}${tp.compacted ? ', compacted' : ''}]`);
  if (t.stores.size > 0) lines.push('  Stores:');
  for (const st of t.stores.values()) {
    const sw = st.windows;
    const w = st.window
      ? ` size ${st.window.sizeMs}ms/advance ${st.window.advanceMs}ms/grace ${st.window.graceMs}ms`
      : sw?.type === 'session'
        ? ` session gap ${sw.gapMs}ms/grace ${sw.graceMs}ms`
        : sw?.type === 'sliding'
          ? ` sliding timeDifference ${sw.timeDifferenceMs}ms/grace ${sw.graceMs}ms`
          : '';
    lines.push(`    ${st.name} [${st.kind}${w}] changelog: ${st.changelog}`);
  }
  return lines.join('\n');
}

function label(n: GraphNode): string {
  return `${n.kind === 'source' || n.kind === 'sink' ? n.kind.toUpperCase() : 'PROCESSOR'} ${n.name} [${n.kind}]`;
}

/** The topology as a Mermaid flowchart: one subgraph per sub-topology; topics as stadiums, stores as cylinders. */
export function describeMermaid(t: Topology): string {
  const id = (s: string) => s.replace(/[^a-zA-Z0-9_]/g, '_');
  const q = (s: string) => s.replace(/"/g, "'");
  const lines = ['flowchart TD'];
  const topicNodes = new Set<string>();
  const topic = (name: string) => {
    const tid = `t_${id(name)}`;
    if (!topicNodes.has(tid)) {
      topicNodes.add(tid);
      lines.push(`  ${tid}(["${q(name)}"])`);
    }
    return tid;
  };
  for (const s of t.subtopologies) {
    lines.push(`  subgraph sub${s.id}["sub-topology ${s.id}"]`);
    for (const nid of s.nodes) {
      const n = t.nodes[nid];
      lines.push(`    n${n.id}["${q(n.name)}<br/><small>${n.kind}</small>"]`);
    }
    lines.push('  end');
  }
  for (const n of t.nodes) {
    for (const c of n.children) lines.push(`  n${n.id} --> n${c}`);
    if (n.kind === 'source') lines.push(`  ${topic(n.topic!)} --> n${n.id}`);
    if (n.kind === 'sink') lines.push(`  n${n.id} --> ${topic(n.topic!)}`);
    for (const st of n.stores) {
      const sid = `s_${id(st)}`;
      const g = t.globalTables.get(st);
      if (!topicNodes.has(sid)) {
        topicNodes.add(sid);
        lines.push(`  ${sid}[("${q(st)}")]`);
        if (g) lines.push(`  ${topic(g.topic)} -.-> ${sid}`);
        else lines.push(`  ${sid} -.-> ${topic(t.stores.get(st)!.changelog)}`);
      }
      lines.push(`  n${n.id} -.- ${sid}`);
    }
  }
  if ([...t.nodes].some((n) => n.kind === 'validate' || n.kind === 'window-aggregate')) topic(t.deadLetterTopic);
  return lines.join('\n');
}
