/** Errors of the schema layer that name a topology's parts (stores, input topics). */
import { EddyError } from '../errors.js';

/**
 * A state store (or its changelog) holds a value or key written with a schema that the store's current schema cannot
 * read (Avro schema resolution fails), or whose schema id the registry does not know. A store's schema may change
 * only compatibly within one topology version; an incompatible change needs a new version (which rebuilds the store
 * by replay). Not retriable.
 */
export class StoreSchemaError extends EddyError {
  constructor(store: string, subject: string, schemaId: number | undefined, reason: string, cause?: unknown) {
    super(
      'STORE_SCHEMA',
      `State store "${store}" holds records (subject "${subject}"${schemaId === undefined ? '' : `, writer schema id ${schemaId}`}) ` +
        `that its schema cannot read: ${reason} Fix: bump the topology version so that the new version rebuilds the ` +
        'store by replay, or make the schema change compatible (e.g. give the new field a default).',
      { details: { store, subject, schemaId }, cause },
    );
  }
}

/**
 * The reader schema a topology declares for an input topic cannot read a version registered by the topic's producers
 * under the topic's subject. eddy never registers under those subjects; it refuses to start instead.
 */
export class UnreadableInputSchemaError extends EddyError {
  constructor(topic: string, subject: string, problems: readonly string[]) {
    super(
      'UNREADABLE_INPUT_SCHEMA',
      `The schema this topology declares for input topic "${topic}" cannot read what its producers registered under ` +
        `subject "${subject}": ${problems.join(' ')} (eddy registers nothing under an input's subject: change the ` +
        "topology's reader schema, not the subject.)",
      { details: { topic, subject, problems } },
    );
  }
}
