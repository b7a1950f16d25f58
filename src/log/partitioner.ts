/**
 * Kafka's default partitioner for keyed records: `toPositive(murmur2(keyBytes)) % numPartitions`
 * (org.apache.kafka.common.utils.Utils.murmur2; kafkajs' JavaCompatiblePartitioner does the same).
 * Both log backends place a key with this function, so a key lands in the same partition on the embedded
 * log and on Kafka, and co-partitioned topics agree.
 */

/** Kafka's murmur2 over bytes (seed 0x9747b28c), as a signed 32-bit integer. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  const seed = 0x9747b28c;
  const m = 0x5bd1e995;
  const r = 24;
  let h = seed ^ length;
  const length4 = length >> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i << 2;
    let k =
      (data[i4] & 0xff) | ((data[i4 + 1] & 0xff) << 8) | ((data[i4 + 2] & 0xff) << 16) | ((data[i4 + 3] & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const index = length4 << 2;
  switch (length % 4) {
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: murmur2 tail falls through on purpose
    case 3:
      h ^= (data[index + 2] & 0xff) << 16;
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: murmur2 tail falls through on purpose
    case 2:
      h ^= (data[index + 1] & 0xff) << 8;
    case 1:
      h ^= data[index] & 0xff;
      h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * The partition for a key: `(murmur2(key) & 0x7fffffff) % partitions`. A null key goes to partition 0
 * (eddy never produces null keys to keyed topics; Kafka would spread them, which breaks determinism).
 * @param partitions number of partitions, >= 1
 */
export function partitionFor(key: Uint8Array | null, partitions: number): number {
  if (key === null || partitions <= 1) return 0;
  return (murmur2(key) & 0x7fffffff) % partitions;
}
