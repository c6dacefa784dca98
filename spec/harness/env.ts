/**
 * Broker URLs for tests. The test runner (`npm test`, spec/run.ts) starts
 * private brokers and passes their URLs in these environment variables.
 */

/** Environment variable holding the AMQP URL of the test RabbitMQ. */
export const AMQP_URL_VAR = 'NOFLO_MSGFLO_TEST_AMQP';
/** Environment variable holding the MQTT URL of the test Mosquitto. */
export const MQTT_URL_VAR = 'NOFLO_MSGFLO_TEST_MQTT';
/**
 * Environment variable holding the AMQP URLs of the test RabbitMQ cluster,
 * comma-separated, one per node in node order.
 */
export const AMQP_CLUSTER_URLS_VAR = 'NOFLO_MSGFLO_TEST_AMQP_CLUSTER';
/**
 * Environment variable holding the path of the test cluster's control file,
 * through which tests kill, start, pause and resume its nodes (see
 * `attachCluster` in ./cluster). Unset for an external cluster.
 */
export const AMQP_CLUSTER_CONTROL_VAR = 'NOFLO_MSGFLO_TEST_AMQP_CLUSTER_CONTROL';

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set: run the tests with \`npm test\` (it starts RabbitMQ and Mosquitto)`);
  }
  return value;
}

/** AMQP URL of the test RabbitMQ; throws when not run through `npm test`. */
export function amqpUrl(): string {
  return required(AMQP_URL_VAR);
}

/** MQTT URL of the test Mosquitto; throws when not run through `npm test`. */
export function mqttUrl(): string {
  return required(MQTT_URL_VAR);
}

/**
 * AMQP URLs of the nodes of the test RabbitMQ cluster (index = node, as in
 * `attachCluster().urls`); throws when not run through `npm test`.
 */
export function clusterUrls(): string[] {
  const value = process.env[AMQP_CLUSTER_URLS_VAR];
  if (value === undefined || value === '') {
    throw new Error(
      `${AMQP_CLUSTER_URLS_VAR} is not set: run the tests with \`npm test\` (it starts the cluster when a selected test file, or a local module it loads, mentions clusterUrls or attachCluster)`,
    );
  }
  const urls = value
    .split(',')
    .map((url) => url.trim());
  if (urls.some((url) => url === '')) throw new Error(`${AMQP_CLUSTER_URLS_VAR} has an empty entry: ${JSON.stringify(process.env[AMQP_CLUSTER_URLS_VAR])}`);
  return urls;
}

/** Both test brokers, for tests that run against each protocol. */
export function brokerUrls(): Array<{ kind: 'amqp' | 'mqtt'; url: string }> {
  return [
    { kind: 'amqp', url: amqpUrl() },
    { kind: 'mqtt', url: mqttUrl() },
  ];
}
