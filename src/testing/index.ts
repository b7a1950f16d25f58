/** Testing a topology without a log: the test driver and golden-fixture helpers (re-exported by `src/index.ts`). */
export { TopologyTestDriver } from './driver.js';
export type {
  GoldenCase,
  GoldenDifference,
  GoldenEngine,
  GoldenInput,
  GoldenInputLine,
  GoldenOutputs,
  GoldenTestOptions,
} from './golden.js';
export {
  compareGolden,
  GoldenMismatchError,
  goldenCases,
  goldenTest,
  readGoldenCase,
  recordGolden,
  runGoldenCase,
} from './golden.js';
export type {
  RawTestInputRecord,
  TestDeadLetter,
  TestDriverOptions,
  TestInputRecord,
  TestKeyValueStore,
  TestOutputRecord,
  TestWindowStore,
} from './types.js';
