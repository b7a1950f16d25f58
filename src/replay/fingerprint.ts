/**
 * The fingerprint of a topology version: a stable hash of everything its state and outputs depend on that eddy can
 * see, so a run whose code changed under the same version number is refused before it writes (see
 * `registry.ts` `checkVersion`). Covered: the graph (node names, kinds, parent and child edges by name, the topics
 * sources and sinks name, the stores and global tables each node uses), windows (size, advance, grace), joins (the
 * global table, its topic and schemas), repartition topics, the key and value schemas of every source, store,
 * changelog and output topic (changelog schemas are the store's, so the store component covers them), the processing
 * guarantee and the optional `codeVersion` label. NOT covered: the code inside user functions (a changed predicate or
 * aggregator body); bump `codeVersion` (or the version) when you change one.
 */
import { createHash } from 'node:crypto';
import type { AvroSchema } from '../schema/types.js';
import type { Topology } from '../topology/graph.js';

/** The processing guarantee a version runs with (`RunnerOptions.processingGuarantee`). */
export type FingerprintGuarantee = 'exactly-once' | 'at-least-once';

/**
 * A version's fingerprint: `hash` is the hex SHA-256 of the canonical JSON of `components`; each component maps a
 * name (`node:<name>`, `store:<name>`, `window:<store>`, `topic:<name>`, `global:<name>`, `guarantee`, `codeVersion`)
 * to the canonical JSON of its part, so two fingerprints can be compared part by part (`fingerprintChanges`).
 */
export interface Fingerprint {
  readonly hash: string;
  readonly components: Readonly<Record<string, string>>;
}

/** JSON with object keys sorted at every level and `doc` attributes dropped: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) {
    if (k === 'doc') continue;
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = sortKeys(v);
  }
  return out;
}

/** The canonical form of an Avro schema used in fingerprints (sorted keys, no `doc`; field order kept). */
export function canonicalSchema(schema: AvroSchema | undefined): unknown {
  return schema === undefined ? null : sortKeys(schema);
}

/**
 * Computes the fingerprint of `t` run with `opts.processingGuarantee` (default `exactly-once`). Depends only on the
 * built topology, never on property order or the process, so it is stable across runs and machines.
 */
export function fingerprintOf(t: Topology, opts: { processingGuarantee?: FingerprintGuarantee } = {}): Fingerprint {
  const c: Record<string, string> = {};
  const nameOf = (id: number) => t.nodes[id].name;
  for (const n of t.nodes) {
    c[`node:${n.name}`] = canonicalJson({
      kind: n.kind,
      parents: n.parents.map(nameOf).sort(),
      children: n.children.map(nameOf).sort(),
      topic: n.topic,
      stores: [...n.stores].sort(),
      ...(n.params === undefined ? {} : { params: n.params }),
    });
  }
  for (const s of t.stores.values()) {
    c[`store:${s.name}`] = canonicalJson({
      kind: s.kind,
      changelog: s.changelog,
      key: canonicalSchema(s.keySchema),
      value: canonicalSchema(s.valueSchema),
    });
    if (s.window !== undefined)
      c[`window:${s.name}`] = canonicalJson({
        sizeMs: s.window.sizeMs,
        advanceMs: s.window.advanceMs,
        graceMs: s.window.graceMs,
      });
  }
  for (const g of t.globalTables.values())
    c[`global:${g.name}`] = canonicalJson({
      topic: g.topic,
      key: canonicalSchema(g.keySchema),
      value: canonicalSchema(g.valueSchema),
    });
  for (const info of t.topics.values()) {
    const withSchemas = info.role !== 'changelog';
    c[`topic:${info.name}`] = canonicalJson({
      role: info.role,
      compacted: info.compacted,
      partitions: info.partitions,
      key: withSchemas ? canonicalSchema(info.keySchema) : undefined,
      value: withSchemas ? canonicalSchema(info.valueSchema) : undefined,
      eventTime: info.eventTime?.description,
    });
  }
  c.guarantee = JSON.stringify(opts.processingGuarantee ?? 'exactly-once');
  if (t.codeVersion !== undefined) c.codeVersion = JSON.stringify(t.codeVersion);
  const components = Object.fromEntries(
    Object.keys(c)
      .sort()
      .map((k) => [k, c[k]]),
  );
  const hash = createHash('sha256').update(canonicalJson(components)).digest('hex');
  return { hash, components };
}

/**
 * Names each difference between two fingerprints in words, e.g.
 * `window size of delays_by_airport_hour changed 3600000 ms → 604800000 ms`,
 * `value schema of store route_stats changed (field p60 added)`, `operator added: filter "x"`.
 * Empty when the hashes are equal. Sorted by component name, so the list is stable.
 */
export function fingerprintChanges(before: Fingerprint, after: Fingerprint): string[] {
  if (before.hash === after.hash) return [];
  const out: string[] = [];
  const names = [...new Set([...Object.keys(before.components), ...Object.keys(after.components)])].sort();
  for (const name of names) {
    const a = before.components[name];
    const b = after.components[name];
    if (a === b) continue;
    out.push(
      ...describeChange(name, a === undefined ? undefined : JSON.parse(a), b === undefined ? undefined : JSON.parse(b)),
    );
  }
  return out;
}

type Json = Record<string, unknown>;

function describeChange(component: string, a: unknown, b: unknown): string[] {
  const colon = component.indexOf(':');
  const kind = colon < 0 ? component : component.slice(0, colon);
  const name = colon < 0 ? '' : component.slice(colon + 1);
  if (kind === 'guarantee') return [`processing guarantee changed ${String(a)} → ${String(b)}`];
  if (kind === 'codeVersion')
    return [
      `codeVersion changed ${a === undefined ? '(none)' : String(a)} → ${b === undefined ? '(none)' : String(b)}`,
    ];
  if (kind === 'node') {
    if (a === undefined) return [`operator added: ${(b as Json).kind} "${name}"`];
    if (b === undefined) return [`operator removed: ${(a as Json).kind} "${name}"`];
    return fieldChanges(a as Json, b as Json).map((f) => `operator "${name}" changed: ${f}`);
  }
  if (kind === 'window') {
    if (a === undefined || b === undefined) return [`window of ${name} ${a === undefined ? 'added' : 'removed'}`];
    const words: Record<string, string> = { sizeMs: 'size', advanceMs: 'advance', graceMs: 'grace' };
    const out: string[] = [];
    for (const k of ['sizeMs', 'advanceMs', 'graceMs'])
      if ((a as Json)[k] !== (b as Json)[k])
        out.push(`window ${words[k]} of ${name} changed ${(a as Json)[k]} ms → ${(b as Json)[k]} ms`);
    return out;
  }
  const label = kind === 'store' ? 'store' : kind === 'global' ? 'global table' : `${roleOf(a, b)} topic`;
  if (a === undefined) return [`${label} added: ${name}`];
  if (b === undefined) return [`${label} removed: ${name}`];
  const out: string[] = [];
  const x = a as Json;
  const y = b as Json;
  for (const part of ['key', 'value'] as const)
    if (JSON.stringify(x[part]) !== JSON.stringify(y[part]))
      out.push(`${part} schema of ${label} ${name} changed (${schemaChange(x[part], y[part]).join('; ')})`);
  for (const k of Object.keys({ ...x, ...y }).sort()) {
    if (k === 'key' || k === 'value') continue;
    if (JSON.stringify(x[k]) !== JSON.stringify(y[k]))
      out.push(`${k} of ${label} ${name} changed ${show(x[k])} → ${show(y[k])}`);
  }
  return out;
}

function roleOf(a: unknown, b: unknown): string {
  return String(((b ?? a) as Json).role ?? 'a');
}

function show(v: unknown): string {
  return v === undefined ? '(none)' : JSON.stringify(v);
}

function fieldChanges(a: Json, b: Json): string[] {
  const out: string[] = [];
  for (const k of Object.keys({ ...a, ...b }).sort())
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) out.push(`${k} ${show(a[k])} → ${show(b[k])}`);
  return out;
}

/** Field-level words for a record schema change (added, removed, changed type or default); else the two forms. */
function schemaChange(a: unknown, b: unknown): string[] {
  const fields = (s: unknown) =>
    s !== null && typeof s === 'object' && (s as Json).type === 'record' && Array.isArray((s as Json).fields)
      ? new Map(((s as Json).fields as Json[]).map((f) => [String(f.name), f]))
      : undefined;
  const fa = fields(a);
  const fb = fields(b);
  if (fa === undefined || fb === undefined) return [`${describeSchema(a)} → ${describeSchema(b)}`];
  const out: string[] = [];
  for (const [n, f] of fb) {
    const old = fa.get(n);
    if (old === undefined) out.push(`field ${n} added`);
    else if (JSON.stringify(old) !== JSON.stringify(f)) {
      if (JSON.stringify(old.type) !== JSON.stringify(f.type))
        out.push(`field ${n} type ${describeSchema(old.type)} → ${describeSchema(f.type)}`);
      else out.push(`field ${n} changed`);
    }
  }
  for (const n of fa.keys()) if (!fb.has(n)) out.push(`field ${n} removed`);
  if (out.length === 0) out.push('record attributes or field order changed');
  return out;
}

function describeSchema(s: unknown): string {
  if (typeof s === 'string') return s;
  if (Array.isArray(s)) return `[${s.map(describeSchema).join(', ')}]`;
  if (s !== null && typeof s === 'object') {
    const o = s as Json;
    return o.name !== undefined ? `${String(o.type)} ${String(o.name)}` : String(o.type);
  }
  return String(s);
}
