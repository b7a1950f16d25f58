/** flight-delays correctness on the embedded log, first 200,000 flights (the suite: flight-delays.suite.ts). */
import { tempBackend } from '../helpers/backend.js';
import { flightDelaysSuite } from './flight-delays.suite.js';

flightDelaysSuite('embedded log', async () => tempBackend(), 200_000);
