/**
 * Every internal and output topic name of a topology version derives from here, and nowhere else.
 * Names are stable: they depend on the topology name, its version and the explicit names the user gave
 * (never on the position of an operator in the graph), so adding an operator never orphans state.
 */

const NAME = /^[a-z0-9][a-z0-9._-]*$/i;

/** Throws a RangeError naming `what` unless `name` is a valid topology/store/topic name part. */
export function checkName(what: string, name: string): string {
  if (!NAME.test(name) || name.length > 200)
    throw new RangeError(
      `${what} "${name}" is not a valid name: use letters, digits, '.', '_' and '-' (start with a letter or digit), at most 200 characters`,
    );
  return name;
}

/** `flight-delays.v1`: the prefix of every internal topic, and the consumer group id. */
export function versionId(topology: string, version: number): string {
  return `${topology}.v${version}`;
}

/** Output topic of version N: `airport-delays-hourly.v1`. */
export function outputTopic(name: string, version: number): string {
  return `${name}.v${version}`;
}

/** Changelog of a store: `flight-delays.v1.delays_by_airport_hour.changelog`. */
export function changelogTopic(topology: string, version: number, store: string): string {
  return `${versionId(topology, version)}.${store}.changelog`;
}

/** Repartition topic of a groupBy: `flight-delays.v1.route_stats.repartition`. */
export function repartitionTopic(topology: string, version: number, name: string): string {
  return `${versionId(topology, version)}.${name}.repartition`;
}

/** Dead-letter topic: `flight-delays.v1.dlq`. */
export function deadLetterTopic(topology: string, version: number): string {
  return `${versionId(topology, version)}.dlq`;
}

/** Consumer group of a topology version: `flight-delays.v1`. */
export function groupId(topology: string, version: number): string {
  return versionId(topology, version);
}

/** Task id `<subtopology>_<partition>` (Kafka Streams' TaskId format). */
export function taskId(subtopology: number, partition: number): string {
  return `${subtopology}_${partition}`;
}

/** Transactional id of a task: `flight-delays.v1-0_3` (one per task, so a zombie task is fenced). */
export function transactionalId(topology: string, version: number, task: string): string {
  return `${versionId(topology, version)}-${task}`;
}

/** Task id carrying the version (what logs, metrics and readiness show): `flight-delays.v2/0_3`. */
export function versionedTaskId(topology: string, version: number, subtopology: number, partition: number): string {
  return `${versionId(topology, version)}/${taskId(subtopology, partition)}`;
}

/**
 * The consumer group whose members read a topology's inputs for every version they run (shared read): used for
 * partition assignment only. Each version's committed positions live in its own group (`groupId`).
 */
export function readerGroupId(topology: string): string {
  return topology;
}

/**
 * The reader group of `eddy replay` of one version: its own, so that a replay beside a running worker of the live
 * version is assigned every input partition instead of splitting them with the worker (`<topology>.replay.v<N>`).
 */
export function replayReaderGroupId(topology: string, version: number): string {
  return `${topology}.replay.v${version}`;
}
