/** Errors of the versions layer (replay, promote, retire, diff): each with a stable code and the fix in its message. */
import { EddyError } from '../errors.js';

/**
 * The code of a topology version differs from the fingerprint recorded for that version: running it would read
 * state written by other code (corrupt windows, undecodable changelogs). Refused before any write; the fix is a
 * new version, replayed into its own outputs.
 */
export class FingerprintMismatchError extends EddyError {
  constructor(topology: string, version: number, changes: readonly string[], nextVersion: number) {
    super(
      'FINGERPRINT_MISMATCH',
      `${topology} version ${version} does not match what was recorded for it: ${changes.join('; ')}. ` +
        `Its state and outputs were made by the recorded code and cannot be reused: bump the version to ${nextVersion} ` +
        `and run \`eddy replay ${topology} --version ${nextVersion}\`.`,
      { details: { topology, version, changes: [...changes], nextVersion } },
    );
  }
}

/**
 * A version's state would move backwards (states go `replaying` → `caught-up` → `live` → `superseded` → `retired`
 * only, plus `superseded` → `live`: see `VERSION_STATES`), or the version's state forbids the operation.
 */
export class VersionStateError extends EddyError {
  constructor(topology: string, version: number, from: string, to: string, fix: string) {
    super('VERSION_STATE', `${topology} version ${version} is ${from}; it cannot become ${to}. ${fix}`, {
      details: { topology, version, from, to },
    });
  }
}

/** A version's committed input positions would move backwards: refused (and the caller logs it). */
export class PositionsBackwardError extends EddyError {
  constructor(topology: string, version: number, moves: readonly { tp: string; from: number; to: number }[]) {
    super(
      'POSITIONS_BACKWARD',
      `${topology} version ${version}: committed positions never move backwards, but ${moves
        .map((m) => `${m.tp} ${m.from} → ${m.to}`)
        .join(', ')} would. To start a version over, use \`eddy replay ${topology} --version ${version} --reset\`.`,
      { details: { topology, version, moves: [...moves] } },
    );
  }
}

/** A topology version that the versions registry does not know (never run, or another cluster). */
export class UnknownVersionError extends EddyError {
  constructor(topology: string, version: number, known: readonly number[]) {
    super(
      'UNKNOWN_VERSION',
      `${topology} has no version ${version}${known.length > 0 ? ` (known: ${known.map((v) => `v${v}`).join(', ')})` : ''}. ` +
        `Run it first: eddy replay ${topology} --version ${version}.`,
      { details: { topology, version, known: [...known] } },
    );
  }
}

/** `eddy promote` of a version whose replay has not caught up: the lag per input partition is in the message. */
export class NotCaughtUpError extends EddyError {
  constructor(
    topology: string,
    version: number,
    lagging: readonly { tp: string; lag: number }[],
    maxLagRecords: number,
  ) {
    super(
      'NOT_CAUGHT_UP',
      `${topology} version ${version} has not caught up: lag ${lagging.map((l) => `${l.tp} ${l.lag}`).join(', ')} record(s), ` +
        `more than ${maxLagRecords} per input partition. Let \`eddy replay ${topology} --version ${version}\` (or the worker) finish, then promote.`,
      { details: { topology, version, lagging: [...lagging], maxLagRecords } },
    );
  }
}
