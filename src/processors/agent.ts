import { EddyError } from '../errors.js';
import type { KeyValueStore } from '../state/stores.js';
import { derive, type Flowing, type Processor, type ProcessorContext, type Rec } from './context.js';
import type { KeyValue } from './stateless.js';

/** What an agent function gets besides its stream: its declared tables (key-value stores) and task info. */
export interface AgentContext {
  readonly taskId: string;
  readonly partition: number;
  /** A key-value store (a Faust table) declared in the agent's `stores` option. */
  table<K, V>(name: string): KeyValueStore<K, V>;
}

/**
 * A Faust-style agent: an async generator over a typed stream that yields records for its output.
 * Example: `async function* (stream, ctx) { for await (const r of stream) if (r.value.ok) yield { key: r.key, value: r.value } }`.
 *
 * Semantics (differs from Faust on purpose): the function is invoked once per batch with that batch's records,
 * so it must keep state in its tables, not in variables that outlive a call: tables are changelogged and
 * committed atomically with the batch, and are rebuilt identically on replay; closure variables are not.
 * Each yielded record takes the provenance (source offset) of the input record most recently pulled.
 */
export type AgentFn<K, V, K2, V2> = (
  stream: AsyncIterable<Rec<K, V>>,
  ctx: AgentContext,
) => AsyncIterable<KeyValue<K2, V2>>;

/** Runs an agent function over each batch. A throw fails the task (agents own their error handling). */
export function agentProcessor<K, V, K2, V2>(name: string, fn: AgentFn<K, V, K2, V2>): Processor {
  return {
    async process(records, ctx: ProcessorContext) {
      let current: Flowing | undefined;
      let pulled = 0;
      const batch = records as Flowing<K, V>[];
      async function* stream(): AsyncGenerator<Rec<K, V>> {
        for (const r of batch) {
          current = r;
          pulled++;
          yield r;
        }
      }
      const agentCtx: AgentContext = {
        taskId: ctx.taskId,
        partition: ctx.partition,
        table: <TK, TV>(store: string) => ctx.kvStore<TK, TV>(store),
      };
      const out: Flowing[] = [];
      for await (const kv of fn(stream(), agentCtx)) {
        if (current === undefined) throw new Error(`agent ${name} yielded before reading its stream`);
        out.push(derive(current, kv.key, kv.value, kv.timestamp ?? current.timestamp));
      }
      // Committing the batch's offsets after an agent skipped records would lose them: fail the task instead.
      if (pulled < batch.length)
        throw new EddyError(
          'AGENT_STOPPED_EARLY',
          `agent ${name} returned after reading ${pulled} of the ${batch.length} records of its batch; an agent must read its whole stream`,
          {
            details: { agent: name },
          },
        );
      return out;
    },
  };
}
