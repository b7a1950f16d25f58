/**
 * eddy now creates its topics with `retention.ms=-1` (issue 9, item 1); this helper, written before that landed, still
 * asserts it on every delete-policy topic of a namespace (a no-op now). Originally: the broker deletes the flight-delays
 * records (event times from 2001) at its next retention check, every 5 minutes: a long Kafka test then fails with
 * RECORDS_DELETED or missing outputs. `keepForever` sets `retention.ms=-1` on a namespace's delete-policy topics
 * (inputs, outputs, dead letters, repartition topics), creating the topology's topics first. Remove it once
 * `eddy load` and the runtime set the retention themselves.
 */
import { join } from 'node:path';
import type { IResourceConfig } from 'kafkajs';
import { ConfigResourceTypes, KafkaClient, KafkaJsLogLevel } from '../../src/log/kafka/kafkajs.js';
import { TopologyRunner } from '../../src/runtime/runner.js';
import { eventually, type FlightNamespace } from './helpers.js';

/** Creates the topology's topics (setup) and sets `retention.ms=-1` on every one that deletes by time. */
export async function keepForever(f: FlightNamespace, brokers: string[]): Promise<void> {
  await new TopologyRunner(f.topology, { log: f.log, registry: f.registry, stateDir: join(f.dir, 'setup') }).setup();
  const resources: IResourceConfig[] = [];
  for (const info of f.topology.topics.values()) {
    const d = await f.log.describeTopic(info.name);
    if (d === undefined || d.compacted) continue;
    // alterConfigs replaces the topic's configs: keep the size limit a test set
    const configEntries = [{ name: 'retention.ms', value: '-1' }];
    if (d.maxMessageBytes !== undefined)
      configEntries.push({ name: 'max.message.bytes', value: String(d.maxMessageBytes) });
    resources.push({ type: ConfigResourceTypes.TOPIC, name: info.name, configEntries });
  }
  const admin = new KafkaClient({ brokers, clientId: `${f.ns}-keep`, logLevel: KafkaJsLogLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.alterConfigs({ validateOnly: false, resources });
  } finally {
    await admin.disconnect();
  }
  // the new configs reach the broker's metadata a moment later
  for (const r of resources)
    await eventually(
      `retention.ms=-1 on ${r.name}`,
      async () => (await f.log.describeTopic(r.name))?.retentionMs === -1,
      30_000,
      100,
    );
}
