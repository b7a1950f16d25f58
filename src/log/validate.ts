/**
 * Argument checks shared by the log backends, so both reject the same bad input with the same `ConfigError`.
 */
import { ConfigError } from '../errors.js';
import type { ConsumerOptions, TopicPartitionOffset } from './contract.js';

/** Throws `ConfigError` unless every offset to commit is a safe integer >= 0 (the next offset to read). */
export function checkCommitOffsets(groupId: string, offsets: readonly TopicPartitionOffset[]): void {
  for (const o of offsets) {
    if (!Number.isSafeInteger(o.offset) || o.offset < 0) {
      throw new ConfigError(`Offset to commit must be a non-negative integer, got ${o.offset}.`, {
        groupId,
        topic: o.topic,
        partition: o.partition,
      });
    }
  }
}

/** Throws `ConfigError` for an empty group id, no topics, or a `maxBatchRecords` that is not an integer >= 1. */
export function checkConsumerOptions(opts: ConsumerOptions): void {
  if (opts.groupId.length === 0) throw new ConfigError('A consumer needs a non-empty groupId.');
  if (opts.topics.length === 0)
    throw new ConfigError('A consumer needs at least one topic.', { groupId: opts.groupId });
  const max = opts.maxBatchRecords ?? 5_000;
  if (!Number.isInteger(max) || max < 1) {
    throw new ConfigError(`maxBatchRecords must be an integer >= 1, got ${max}.`, { maxBatchRecords: max });
  }
}

/** Throws `ConfigError` unless every position to resume at is a safe integer >= 0 (`Consumer.resume`). */
export function checkResumePositions(positions: readonly TopicPartitionOffset[]): void {
  for (const o of positions) {
    if (!Number.isSafeInteger(o.offset) || o.offset < 0) {
      throw new ConfigError(
        `Offset to resume ${o.topic}:${o.partition} at must be a non-negative integer, got ${o.offset}.`,
        {
          topic: o.topic,
          partition: o.partition,
        },
      );
    }
  }
}

/** Throws `ConfigError` unless `beforeOffset` of `Log.deleteRecords` is a safe integer >= 0. */
export function checkDeleteRecordsOffset(topic: string, partition: number, beforeOffset: number): void {
  if (!Number.isSafeInteger(beforeOffset) || beforeOffset < 0) {
    throw new ConfigError(`deleteRecords of ${topic}:${partition} needs an integer offset >= 0, got ${beforeOffset}.`, {
      topic,
      partition,
    });
  }
}
