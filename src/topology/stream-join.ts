import { type JoinWindows, type StreamJoinKind, streamJoinProcessor } from '../processors/stream-join.js';
import type { AvroSchema } from '../schema/types.js';
import type { TopologyBuilder } from './builder.js';
import { checkName } from './names.js';
import { Stream } from './stream.js';

/**
 * Options of a stream–stream join (Kafka Streams `KStream#join(KStream, ValueJoiner, JoinWindows, StreamJoined)`).
 * `name` names the result stream and every store: `<name>-left-store`, `<name>-right-store` (buffers) and, for left
 * and outer joins, `<name>-unmatched-store`. `values` are the two sides' value schemas (the buffers hold arrays of
 * them). `key` is the join key's schema; by default it is read from the source topic both streams come from (an
 * error asks for it when an upstream `map`/`flatMap`/agent may have changed the key).
 */
export interface StreamJoinOptions {
  readonly name: string;
  readonly window: JoinWindows;
  readonly values: { readonly left: AvroSchema; readonly right: AvroSchema };
  readonly key?: AvroSchema;
}

/** Node kinds that keep the record key as it was, so the key schema of their input still holds. */
const KEEPS_KEY = new Set(['mapValues', 'filter', 'peek', 'validate', 'branch', 'join']);

/** The key schema of the stream ending at `nodeId`: the one of the topic it reads, through key-keeping operators. */
function keySchemaOf(b: TopologyBuilder, nodeId: number, join: string): AvroSchema {
  let n = b.nodes[nodeId];
  while (KEEPS_KEY.has(n.kind) && n.parents.length > 0) n = b.nodes[n.parents[0]];
  const schema = n.kind === 'source' ? b.topics.get(n.topic!)?.keySchema : undefined;
  if (schema === undefined)
    throw new RangeError(
      `stream join "${join}": cannot tell the key schema of its input (after "${n.name}", a ${n.kind}); give it as the option key`,
    );
  return schema;
}

/** The topics read by the source nodes upstream of `nodeId`. */
function upstreamTopics(b: TopologyBuilder, nodeId: number): Set<string> {
  const out = new Set<string>();
  const stack = [nodeId];
  const seen = new Set<number>();
  while (stack.length > 0) {
    const n = b.nodes[stack.pop()!];
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    if (n.kind === 'source') out.add(n.topic!);
    stack.push(...n.parents);
  }
  return out;
}

/** An Avro name part from a user name (`orders-payments` -> `orders_payments`). */
function avroName(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, '_').replace(/^([0-9])/, '_$1');
}

/** The unmatched store's value schema: `{ left: [left values], right: [right values] }`, named after the join. */
function unmatchedSchema(join: string, left: AvroSchema, right: AvroSchema): AvroSchema {
  const named = (s: AvroSchema) =>
    typeof s === 'object' && s !== null && !Array.isArray(s) && 'name' in s ? (s as { name: string }) : undefined;
  // Avro refuses a named type defined twice in one schema: a right side of the same named type refers to it by name.
  const sameNamed = named(left) !== undefined && JSON.stringify(left) === JSON.stringify(right);
  return {
    type: 'record',
    name: `Unmatched_${avroName(join)}`,
    namespace: 'eddy.join',
    fields: [
      { name: 'left', type: { type: 'array', items: left } },
      { name: 'right', type: { type: 'array', items: sameNamed ? qualified(left) : right } },
    ],
  } as AvroSchema;
}

function qualified(s: AvroSchema): string {
  const o = s as { name: string; namespace?: string };
  return o.name.includes('.') || o.namespace === undefined ? o.name : `${o.namespace}.${o.name}`;
}

/**
 * Builds a stream–stream join (OPERATORS.md rule 1): nodes `<name>-left` and `<name>-right`, each a child of its
 * input with its side's processor (both use both buffers, so they fall in one sub-topology: the inputs must be
 * co-partitioned), feeding the pass-through node `<name>`, the result stream. The join window and kind enter the
 * fingerprint as the side nodes' params.
 * @throws RangeError on a bad name or window, a name already used, an unknown key schema, or two sides that read one
 *   topic (a self-join: not supported, see the README's differences from Kafka Streams).
 */
export function buildStreamJoin<K, VL, VR, VO>(
  b: TopologyBuilder,
  left: Stream<K, VL>,
  right: Stream<K, VR>,
  joiner: (left: VL | null, right: VR | null, key: K) => VO,
  opts: StreamJoinOptions,
  kind: StreamJoinKind,
): Stream<K, VO> {
  const name = checkName('join name', opts?.name);
  if (opts.window === undefined || opts.values?.left === undefined || opts.values?.right === undefined)
    throw new RangeError(
      `stream join "${name}": options need window (joinWindows(...)) and values: { left, right } (the value schemas)`,
    );
  const w = opts.window;
  const shared = [...upstreamTopics(b, left.nodeId)].filter((x) => upstreamTopics(b, right.nodeId).has(x));
  if (shared.length > 0)
    throw new RangeError(
      `stream join "${name}": both sides read topic ${shared.join(', ')} (a self-join, or two branches of one stream). eddy runs each side over a whole batch, so such a join's results would depend on the batch size; it is not supported: join streams of different topics`,
    );
  const key = opts.key ?? keySchemaOf(b, left.nodeId, name);
  const leftStore = `${name}-left-store`;
  const rightStore = `${name}-right-store`;
  const unmatchedStore = kind === 'inner' ? undefined : `${name}-unmatched-store`;
  b.addStore(leftStore, 'window', { key, value: { type: 'array', items: opts.values.left } as AvroSchema });
  b.addStore(rightStore, 'window', { key, value: { type: 'array', items: opts.values.right } as AvroSchema });
  if (unmatchedStore !== undefined)
    b.addStore(unmatchedStore, 'window', { key, value: unmatchedSchema(name, opts.values.left, opts.values.right) });
  const stores = [leftStore, rightStore, ...(unmatchedStore === undefined ? [] : [unmatchedStore])];
  const params = { kind, beforeMs: w.beforeMs, afterMs: w.afterMs, graceMs: w.graceMs };
  const side = (s: 'left' | 'right', input: number) =>
    b.addNode(
      `${name}-${s}`,
      'join',
      [input],
      streamJoinProcessor({
        join: name,
        name: `${name}-${s}`,
        side: s,
        kind,
        window: w,
        leftStore,
        rightStore,
        unmatchedStore,
        joiner: joiner as (l: unknown, r: unknown, k: unknown) => unknown,
        policy: b.policy,
      }),
      stores,
      undefined,
      { ...params, side: s },
    );
  const l = side('left', left.nodeId);
  const r = side('right', right.nodeId);
  const id = b.addNode(name, 'join', [l, r], { process: (rs) => rs }, [], undefined, params);
  return new Stream<K, VO>(b, id);
}
