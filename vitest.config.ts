import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Starts a real Apache Kafka 3.9.1 broker and an Apicurio registry (Confluent API) on loopback unless
    // KAFKA_BROKERS / SCHEMA_REGISTRY_URL name existing ones; the Kafka suites fail (never skip) without them.
    globalSetup: ['tests/infra/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    pool: 'forks',
    // One file at a time: the Kafka suites share one broker on 2 cores, and its group-timing tests (session
    // timeouts, heartbeats during slow handlers) time out when the multi-process fault tests run beside them.
    // The run takes about as long either way (~3.5 min), dominated by the two Kafka files.
    fileParallelism: false,
    reporters: ['default'],
  },
});
