/**
 * Broker URLs for tests. The test runner (`npm test`, spec/run.ts) starts
 * private brokers and passes their URLs in these environment variables.
 */

/** Environment variable holding the AMQP URL of the test RabbitMQ. */
export const AMQP_URL_VAR = 'NOFLO_MSGFLO_TEST_AMQP';
/** Environment variable holding the MQTT URL of the test Mosquitto. */
export const MQTT_URL_VAR = 'NOFLO_MSGFLO_TEST_MQTT';

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

/** Both test brokers, for tests that run against each protocol. */
export function brokerUrls(): Array<{ kind: 'amqp' | 'mqtt'; url: string }> {
  return [
    { kind: 'amqp', url: amqpUrl() },
    { kind: 'mqtt', url: mqttUrl() },
  ];
}
