import { derive, type ErrorPolicy, FAILED, type Flowing, guarded, type Processor, type Rec } from './context.js';

/**
 * Stream-global-table join (Kafka Streams `KStream#join(GlobalKTable, KeyValueMapper, ValueJoiner)`): for each
 * record, `keyOf` picks the table key, and `joiner` combines the value with the table's value. `inner`: a record
 * with no table match is dropped (counted) or, with `onMissing: 'dead-letter'`, dead-lettered; `left`: the joiner
 * gets `undefined`. The stream record's key may be null (Kafka Streams joins it when its mapped key is found); a
 * null or undefined mapped key is dropped (counted), or dead-lettered by `inner` with `onMissing: 'dead-letter'`,
 * except that `left` joins a null-key record whose mapped key is null with `undefined`: Kafka Streams 3.9.1's
 * behaviour, checked against its own TopologyTestDriver in tests/differential.
 */
export function globalJoinProcessor<K, V, TK, TV, V2>(opts: {
  name: string;
  table: string;
  keyOf: (r: Rec<K, V>) => TK;
  joiner: (value: V, tableValue: TV | undefined, r: Rec<K, V>) => V2;
  kind: 'inner' | 'left';
  onMissing: 'drop' | 'dead-letter';
  policy: ErrorPolicy;
}): Processor {
  const { name, policy } = opts;
  return {
    process(records, ctx) {
      const table = ctx.globalTable<TK, TV>(opts.table);
      const out: Flowing[] = [];
      for (const r of records as Flowing<K, V>[]) {
        let tk: TK | undefined;
        const res = guarded(ctx, name, r, policy, () => {
          tk = opts.keyOf(r);
          if (tk === null || tk === undefined)
            // Kafka Streams 3.9.1 (seen in tests/differential): a left join joins a null-key record whose mapped key
            // is null with no table value, and drops a keyed record whose mapped key is null; an inner join drops both
            return opts.kind === 'left' && r.key === null ? opts.joiner(r.value, undefined, r) : MISSING;
          const tv = table.get(tk);
          if (tv === undefined && opts.kind === 'inner') return MISSING;
          return opts.joiner(r.value, tv, r);
        });
        if (res === FAILED) continue;
        if (res === MISSING) {
          if (opts.onMissing === 'dead-letter' && opts.kind === 'inner')
            ctx.deadLetter(r, name, `no key ${JSON.stringify(tk)} in table ${opts.table}`);
          else ctx.metrics.dropped(name);
          continue;
        }
        out.push(derive(r, r.key, res as V2));
      }
      return out;
    },
  };
}

const MISSING: unique symbol = Symbol('eddy.join.missing');
