/**
 * The foreign-key table–table join (KIP-213) wired into the graph: `Table.join(other, foreignKey, joiner, opts)` and
 * `leftJoin`. See src/processors/table-fk-join.ts for what each node does.
 */
import {
  fkResponseProcessor,
  fkRightUpdateProcessor,
  fkSchemas,
  fkSubscribeProcessor,
  fkSubscriptionsProcessor,
} from '../processors/table-fk-join.js';
import type { AvroSchema } from '../schema/types.js';
import { checkName, repartitionTopic } from './names.js';
import { Table } from './table.js';

/** Options of a foreign-key join: its name and the schemas of its internal topics and store. */
export interface ForeignKeyJoinOptions {
  /** Names the nodes, the store `<name>-subscriptions` and the topics `<topology>.v<N>.<name>-subscription|response.repartition`. */
  readonly name: string;
  readonly schemas: {
    /** This (left) table's key schema: the response topic's key (equal to the left topic's, so partitions match). */
    readonly key: AvroSchema;
    /** The foreign key's schema: the other (right) table's key schema (equal, so subscriptions meet its partitions). */
    readonly foreignKey: AvroSchema;
    /** The other (right) table's value schema (carried by responses). */
    readonly otherValue: AvroSchema;
  };
}

/**
 * Builds a foreign-key join of `left` with `right`: `<name>-subscribe` under the left table (subscriptions out),
 * `<name>-subscription-source` and `<name>-subscriptions` beside the right table (the subscription store
 * `<name>-subscriptions`, answers out), `<name>-other` under the right table (its updates to the subscribers),
 * `<name>-response-source` and `<name>-join` beside the left table (hash check, joiner), and `<name>`, the result.
 * The result table forwards `Change(new, null)` (no old values) and cannot be looked up (it keeps no store).
 */
export function foreignKeyJoin<K, L, KO, R, VR>(
  left: Table<K, L>,
  right: Table<KO, R>,
  foreignKey: (value: L) => KO | null | undefined,
  joiner: (left: L, right: R | null) => VR,
  leftJoin: boolean,
  opts: ForeignKeyJoinOptions,
): Table<K, VR> {
  const { b } = left;
  const { name } = opts;
  if (right.b !== b) throw new RangeError(`join ${name}: both tables must belong to topology ${b.name}`);
  checkName('join name', name);
  const schemas = fkSchemas(name, opts.schemas.key, opts.schemas.otherValue);
  const subscriptionTopic = repartitionTopic(b.name, b.version, `${name}-subscription`);
  const responseTopic = repartitionTopic(b.name, b.version, `${name}-response`);
  b.addTopic({
    name: subscriptionTopic,
    role: 'repartition',
    keySchema: opts.schemas.foreignKey,
    valueSchema: schemas.subscription,
    compacted: false,
  });
  b.addTopic({
    name: responseTopic,
    role: 'repartition',
    keySchema: opts.schemas.key,
    valueSchema: schemas.response,
    compacted: false,
  });
  const store = `${name}-subscriptions`;
  b.addStore(store, 'kv', { key: opts.schemas.foreignKey, value: schemas.subscribers });
  const params = { join: 'foreign-key', kind: leftJoin ? 'left' : 'inner' };
  // Both sides' old values: the left row's old foreign key (to unsubscribe), the right row's existence before.
  left.requireOldValues();
  right.requireOldValues();
  const policy = b.policy;

  const subscribe = b.addNode(
    `${name}-subscribe`,
    'table-fk-join',
    [left.nodeId],
    fkSubscribeProcessor({ name: `${name}-subscribe`, topic: subscriptionTopic, foreignKey, joiner, leftJoin, policy }),
    [],
    subscriptionTopic,
    params,
  );
  const subSource = b.addNode(`${name}-subscription-source`, 'source', [], undefined, [], subscriptionTopic);
  b.addNode(
    `${name}-subscriptions`,
    'table-fk-join',
    [subSource],
    fkSubscriptionsProcessor({ name: `${name}-subscriptions`, store, topic: responseTopic, right: right.getter }),
    [store, ...right.getterStores],
    responseTopic,
  );
  b.addNode(
    `${name}-other`,
    'table-fk-join',
    [right.nodeId],
    fkRightUpdateProcessor({ store, topic: responseTopic }),
    [store],
    responseTopic,
  );
  const respSource = b.addNode(`${name}-response-source`, 'source', [], undefined, [], responseTopic);
  const join = b.addNode(
    `${name}-join`,
    'table-fk-join',
    [respSource],
    fkResponseProcessor({ name: `${name}-join`, left: left.getter, joiner, leftJoin, policy }),
    left.getterStores,
  );
  const id = b.addNode(name, 'table-fk-join', [subscribe, join], { process: (rs) => rs }, []);
  const getter = () => {
    throw new Error(`the result of foreign-key join ${name} keeps no store and cannot be looked up`);
  };
  return new Table<K, VR>(b, id, {
    getter,
    getterStores: [],
    unreadable: `the result of foreign-key join ${name}`,
    changeNodes: [],
  });
}
