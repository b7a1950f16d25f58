/**
 * Topics and offsets on Kafka: create (idempotent, shape-checked), delete, list, describe (partitions from
 * metadata, `cleanup.policy` from DescribeConfigs), low/high offsets (ListOffsets) and committed group
 * offsets with their metadata (OffsetFetch).
 */
import type { Admin, Kafka } from 'kafkajs';
import { ConfigError, RebalanceInProgressError, TopicMismatchError, UnknownTopicError } from '../../errors.js';
import type { PartitionOffsets, TopicDescription, TopicSpec } from '../contract.js';
import { hasErrorType, toEddyError } from './client.js';
import { READ_UNCOMMITTED } from './internals.js';
import { ConfigResourceTypes } from './kafkajs.js';
import { EARLIEST, LATEST, type RawClient } from './raw.js';

/** Kafka's legal topic names: 1-249 of `[a-zA-Z0-9._-]`, not `.` or `..`. */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** True if a `cleanup.policy` value includes compaction (`compact` or `compact,delete`). */
function isCompactPolicy(policy: string | undefined): boolean {
  return (policy ?? 'delete').split(',').some((p) => p.trim() === 'compact');
}

/** The topic configs `describeTopic` reports. */
const DESCRIBED_CONFIGS = ['cleanup.policy', 'retention.ms', 'max.message.bytes'];

/** A config value as a number, undefined when absent or not a number. */
function toNumber(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** Topic administration for `KafkaLog`. */
export class KafkaTopics {
  private admin: Admin | undefined;
  private connecting: Promise<Admin> | undefined;

  /**
   * @param kafka the client.
   * @param raw the raw cluster client (metadata, offsets).
   * @param replicationFactor replication factor of created topics.
   */
  constructor(
    private readonly kafka: Kafka,
    private readonly raw: RawClient,
    private readonly replicationFactor: number,
  ) {}

  /**
   * Creates missing topics (`cleanup.policy=compact` when `compacted`, plus `config`), waits until they have
   * leaders. Existing topics are compared: a different partition count or cleanup policy throws
   * `TopicMismatchError`; `config` is not compared. Throws `ConfigError` for an invalid name or partition
   * count, `KafkaError` when the broker refuses.
   */
  async createTopics(specs: readonly TopicSpec[]): Promise<void> {
    for (const s of specs) validateSpec(s);
    const existing = await this.describeMany(specs.map((s) => s.name));
    for (const s of specs) {
      const e = existing.get(s.name);
      if (e !== undefined) checkShape(e, s);
    }
    const missing = specs.filter((s) => !existing.has(s.name));
    if (missing.length === 0) return;
    const admin = await this.getAdmin();
    try {
      await admin.createTopics({
        waitForLeaders: true,
        timeout: 30_000,
        topics: missing.map((s) => ({
          topic: s.name,
          numPartitions: s.partitions,
          replicationFactor: this.replicationFactor,
          configEntries: configEntries(s),
        })),
      });
    } catch (err) {
      // kafkajs' wait for leaders can see a just-created topic before its metadata has spread (a busy broker):
      // the metadata wait and the shape check below settle whether the topics exist.
      const settling = ['TOPIC_ALREADY_EXISTS', 'UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE'];
      if (!settling.some((t) => hasErrorType(err, t)))
        throw toEddyError(err, 'create topics', { topics: missing.map((s) => s.name) });
    }
    // Created concurrently by someone else, or created now: check shapes against the broker's view.
    await this.waitFor(
      missing.map((s) => s.name),
      true,
    );
    const now = await this.describeMany(missing.map((s) => s.name));
    for (const s of missing) {
      const e = now.get(s.name);
      if (e === undefined) throw toEddyError(new Error(`topic "${s.name}" did not appear`), 'create topics');
      checkShape(e, s);
    }
  }

  /** Deletes existing topics (Kafka drops their committed group offsets), waits until metadata no longer lists them. */
  async deleteTopics(names: readonly string[]): Promise<void> {
    const known = await this.raw.topics();
    const existing = names.filter((n) => known.has(n));
    if (existing.length === 0) return;
    const admin = await this.getAdmin();
    try {
      await admin.deleteTopics({ topics: existing, timeout: 30_000 });
    } catch (err) {
      if (!hasErrorType(err, 'UNKNOWN_TOPIC_OR_PARTITION'))
        throw toEddyError(err, 'delete topics', { topics: existing });
    }
    await this.waitFor(existing, false);
  }

  /** All non-internal topics, sorted by name. */
  async listTopics(): Promise<TopicDescription[]> {
    const names = [...(await this.raw.topics()).values()].filter((t) => !t.internal).map((t) => t.name);
    const described = await this.describeMany(names);
    return [...described.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** One topic, or undefined. */
  async describeTopic(name: string): Promise<TopicDescription | undefined> {
    return (await this.describeMany([name])).get(name);
  }

  /**
   * Low (log start) and high (high watermark) offset per partition, sorted by partition. Throws
   * `UnknownTopicError`.
   */
  async offsets(topic: string): Promise<PartitionOffsets[]> {
    const count = await this.raw.partitionsOf(topic);
    if (count === undefined) throw new UnknownTopicError(topic);
    const partitions = Array.from({ length: count }, (_, i) => i);
    const [low, high] = await Promise.all([
      this.raw.listOffsets(topic, partitions, EARLIEST, READ_UNCOMMITTED),
      this.raw.listOffsets(topic, partitions, LATEST, READ_UNCOMMITTED),
    ]);
    return partitions.map((partition) => ({ partition, low: low.get(partition)!, high: high.get(partition)! }));
  }

  /**
   * The group's committed offsets of a topic with their metadata (an empty metadata string is left out:
   * Kafka does not tell it apart from none). Throws `UnknownTopicError`.
   */
  async committedOffsets(groupId: string, topic: string): Promise<Map<number, { offset: number; metadata?: string }>> {
    const count = await this.raw.partitionsOf(topic);
    if (count === undefined) throw new UnknownTopicError(topic);
    const fetched = await this.raw.committed(
      groupId,
      topic,
      Array.from({ length: count }, (_, i) => i),
    );
    const out = new Map<number, { offset: number; metadata?: string }>();
    for (const [partition, c] of [...fetched.entries()].sort((a, b) => a[0] - b[0])) {
      if (c.offset < 0) continue;
      out.set(partition, c.metadata ? { offset: c.offset, metadata: c.metadata } : { offset: c.offset });
    }
    return out;
  }

  /**
   * Deletes the records of a partition below `beforeOffset` (DeleteRecords). Throws `ConfigError` above the high
   * watermark; at or below the log start does nothing. Throws `UnknownTopicError`, `KafkaError`.
   */
  async deleteRecords(topic: string, partition: number, beforeOffset: number): Promise<void> {
    await this.raw.requirePartition(topic, partition);
    const [bounds] = (await this.offsets(topic)).filter((o) => o.partition === partition);
    if (beforeOffset > bounds.high) {
      throw new ConfigError(
        `Cannot delete records of ${topic}:${partition} below offset ${beforeOffset}: the high watermark is ${bounds.high}.`,
        { topic, partition, beforeOffset, high: bounds.high },
      );
    }
    if (beforeOffset <= bounds.low) return;
    await this.raw.deleteRecords(topic, partition, beforeOffset);
  }

  /**
   * Deletes consumer groups (DeleteGroups) with their committed offsets; unknown groups are ignored. Throws
   * `RebalanceInProgressError` for a group with members (Kafka's NON_EMPTY_GROUP), `KafkaError` otherwise.
   */
  async deleteGroups(groupIds: readonly string[]): Promise<void> {
    if (groupIds.length === 0) return;
    const admin = await this.getAdmin();
    try {
      await admin.deleteGroups([...groupIds]);
    } catch (err) {
      const failed = (err as { groups?: { groupId: string; error?: { type?: string } }[] }).groups;
      if (failed === undefined) throw toEddyError(err, 'delete groups', { groupIds });
      const real = failed.filter((g) => g.error?.type !== 'GROUP_ID_NOT_FOUND');
      const busy = real.find((g) => g.error?.type === 'NON_EMPTY_GROUP');
      if (busy !== undefined) {
        throw new RebalanceInProgressError(
          busy.groupId,
          'cannot delete the group: it has active members; stop them first',
        );
      }
      if (real.length > 0) throw toEddyError(err, 'delete groups', { groupIds: real.map((g) => g.groupId) });
    }
  }

  /** Disconnects the admin client. */
  async close(): Promise<void> {
    const connecting = this.connecting;
    this.connecting = undefined;
    this.admin = undefined;
    if (connecting === undefined) return;
    const admin = await connecting.catch(() => undefined);
    await admin?.disconnect().catch(() => undefined);
  }

  /** Descriptions of the named topics that exist (one DescribeConfigs request for all). */
  private async describeMany(names: readonly string[]): Promise<Map<string, TopicDescription>> {
    const meta = await this.raw.topics();
    const found = [...new Set(names)].filter((n) => meta.has(n));
    const out = new Map<string, TopicDescription>();
    if (found.length === 0) return out;
    const admin = await this.getAdmin();
    let resources: { resourceName: string; configEntries: { configName: string; configValue: string }[] }[];
    try {
      ({ resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: found.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: DESCRIBED_CONFIGS })),
      }));
    } catch (err) {
      if (!hasErrorType(err, 'UNKNOWN_TOPIC_OR_PARTITION'))
        throw toEddyError(err, 'describe topics', { topics: found });
      // one of them was deleted meanwhile: describe one by one
      resources = [];
      for (const name of found) {
        const r = await admin
          .describeConfigs({
            includeSynonyms: false,
            resources: [{ type: ConfigResourceTypes.TOPIC, name, configNames: DESCRIBED_CONFIGS }],
          })
          .catch(() => undefined);
        if (r !== undefined) resources.push(...r.resources);
      }
    }
    for (const r of resources) {
      const m = meta.get(r.resourceName);
      if (m === undefined) continue;
      const config = (name: string) => r.configEntries.find((c) => c.configName === name)?.configValue;
      const retentionMs = toNumber(config('retention.ms'));
      const maxMessageBytes = toNumber(config('max.message.bytes'));
      out.set(m.name, {
        name: m.name,
        partitions: m.partitions,
        compacted: isCompactPolicy(config('cleanup.policy')),
        ...(retentionMs === undefined ? {} : { retentionMs }),
        ...(maxMessageBytes === undefined ? {} : { maxMessageBytes }),
      });
    }
    return out;
  }

  /** Polls metadata (up to 30 s) until all names are present (`present`) or all are gone. */
  private async waitFor(names: readonly string[], present: boolean): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const meta = await this.raw.topics();
      if (names.every((n) => meta.has(n) === present)) return;
      if (Date.now() > deadline) {
        throw toEddyError(
          new Error(`metadata still ${present ? 'lacks' : 'lists'} ${names.join(', ')}`),
          'topic metadata',
        );
      }
      await sleep(50);
    }
  }

  private async getAdmin(): Promise<Admin> {
    if (this.admin !== undefined) return this.admin;
    this.connecting ??= (async () => {
      const admin = this.kafka.admin();
      await admin.connect();
      return admin;
    })().catch((err: unknown) => {
      this.connecting = undefined;
      throw toEddyError(err, 'connect admin');
    });
    this.admin = await this.connecting;
    return this.admin;
  }
}

function validateSpec(s: TopicSpec): void {
  if (!TOPIC_NAME.test(s.name) || s.name === '.' || s.name === '..') {
    throw new ConfigError(`Invalid topic name "${s.name}": use 1-249 characters of [a-zA-Z0-9._-], not "." or "..".`, {
      topic: s.name,
    });
  }
  if (!Number.isInteger(s.partitions) || s.partitions < 1) {
    throw new ConfigError(`Topic "${s.name}" needs an integer partition count >= 1, got ${s.partitions}.`, {
      topic: s.name,
      partitions: s.partitions,
    });
  }
}

function checkShape(existing: TopicDescription, spec: TopicSpec): void {
  const compacted = spec.compacted ?? false;
  if (existing.partitions !== spec.partitions) {
    throw new TopicMismatchError(spec.name, `${existing.partitions} partition(s), not ${spec.partitions}`);
  }
  if (existing.compacted !== compacted) {
    throw new TopicMismatchError(
      spec.name,
      `cleanup policy ${existing.compacted ? 'compact' : 'delete'}, not ${compacted ? 'compact' : 'delete'}`,
    );
  }
}

/** Broker configs of a new topic: `config`, with `cleanup.policy` following `compacted`. */
function configEntries(s: TopicSpec): { name: string; value: string }[] {
  const config = { ...(s.config ?? {}) };
  const given = config['cleanup.policy'];
  if (s.compacted) config['cleanup.policy'] = isCompactPolicy(given) ? given! : 'compact';
  else config['cleanup.policy'] = given !== undefined && !isCompactPolicy(given) ? given : 'delete';
  return Object.entries(config).map(([name, value]) => ({ name, value }));
}
