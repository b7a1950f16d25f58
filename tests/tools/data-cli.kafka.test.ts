/** `eddy produce`, `tail` and `dlq` on a real Kafka broker and registry (the suite: data-cli.suite.ts). */
import { kafkaEnv } from '../kafka/helpers.js';
import { dataCliSuite } from './data-cli.suite.js';

dataCliSuite({
  name: 'kafka',
  env: () => {
    const { brokers, registryUrl } = kafkaEnv();
    return { EDDY_BACKEND: 'kafka', KAFKA_BROKERS: brokers.join(','), SCHEMA_REGISTRY_URL: registryUrl };
  },
});
