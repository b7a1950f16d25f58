/** Errors of the data tools (`eddy produce`, `eddy tail`, `eddy dlq`). Each has a stable code. */
import { EddyError } from '../errors.js';

/**
 * A row of `eddy produce`'s input does not fit the value schema (or its key or timestamp field is missing or
 * unreadable). Raised while checking the whole input, before anything is registered or written.
 * `row` counts data rows from 1 (a CSV header is not a row); `line` is the line of the file where known.
 */
export class RowInvalidError extends EddyError {
  constructor(source: string, row: number, problems: readonly { field: string; problem: string }[], line?: number) {
    const where = line !== undefined && line !== row ? `row ${row} (line ${line})` : `row ${row}`;
    const what = problems.map((p) => `field "${p.field}" ${p.problem}`).join('; ');
    super(
      'ROW_INVALID',
      `${source}: ${where} does not fit the schema: ${what}. Nothing was written; fix the row (or the schema) and run again.`,
      { details: { source, row, line, problems } },
    );
  }
}

/** The input of `eddy produce` cannot be parsed as the given format (bad JSON, bad CSV). */
export class InputFormatError extends EddyError {
  constructor(source: string, format: string, reason: string, row?: number) {
    super(
      'INPUT_FORMAT',
      `${source}: not valid ${format}${row !== undefined ? ` at row ${row}` : ''}: ${reason}. Nothing was written; check --format.`,
      { details: { source, format, row } },
    );
  }
}

/** A dead letter cannot be re-driven (original bytes not kept, or they are not a record of the source topic). */
export class NotRedrivableError extends EddyError {
  constructor(coordinates: string, reason: string) {
    super('NOT_REDRIVABLE', `dead letter ${coordinates} cannot be re-driven: ${reason}`, { details: { coordinates } });
  }
}
