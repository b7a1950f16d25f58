/** `eddy produce`, `tail` and `dlq` on the embedded log (the suite: data-cli.suite.ts). */
import { dataCliSuite } from './data-cli.suite.js';

dataCliSuite({ name: 'embedded', env: () => ({}) });
