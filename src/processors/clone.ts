/**
 * A deep copy of a decoded Avro value (objects, arrays, maps, Buffers, primitives), keeping Buffers as Buffers (which
 * `structuredClone` does not). Operators whose windows share an aggregate (a sliding window seeded from its neighbour,
 * an update forwarded while its window keeps changing) copy it so that an aggregator mutating in place changes one
 * window only.
 */
export function cloneValue<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Buffer.isBuffer(v)) return Buffer.from(v) as T;
  if (Array.isArray(v)) return v.map(cloneValue) as T;
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, cloneValue(x)])) as T;
  if (v instanceof Date) return new Date(v.getTime()) as T;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = cloneValue(x);
  return out as T;
}
