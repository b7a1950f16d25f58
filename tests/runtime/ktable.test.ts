/** The tables suite (tests/runtime/ktable.suite.ts) on the embedded log. */
import { tempBackend } from '../helpers/backend.js';
import { tableSuite } from './ktable.suite.js';

tableSuite('the embedded log', async () => ({ ...tempBackend('eddy-ktable-'), ns: '' }));
