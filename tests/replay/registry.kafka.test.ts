/** The versions registry on a real Kafka broker (tests/infra/global-setup.ts starts one; never skipped). */
import { kafkaLog } from '../kafka/helpers.js';
import { uniqueName } from '../log/helpers.js';
import { registrySuite } from './registry.suite.js';

registrySuite('kafka', async () => {
  const name = uniqueName('versions');
  const log = kafkaLog(name);
  // Other suites may share the registry topic: records of other topologies are ignored by name.
  return {
    log,
    name,
    async destroy() {
      await log.close();
    },
  };
});
