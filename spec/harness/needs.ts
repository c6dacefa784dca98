/**
 * Which test brokers a run needs, read from the compiled test files, so that
 * `npm test -- dist/spec/unit/x.test.js` starts none and a run without the
 * cluster tests does not boot three more RabbitMQ nodes (see ../run).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Compiled text that uses the test RabbitMQ: amqpUrl(), brokerUrls(), its variable. */
export const AMQP_USE = /\bamqpUrl\b|\bbrokerUrls\b|\bAMQP_URL_VAR\b|NOFLO_MSGFLO_TEST_AMQP(?!_)/;
/** Compiled text that uses the test Mosquitto: mqttUrl(), brokerUrls(), its variable. */
export const MQTT_USE = /\bmqttUrl\b|\bbrokerUrls\b|\bMQTT_URL_VAR\b|NOFLO_MSGFLO_TEST_MQTT/;
/** Compiled text that uses the shared cluster: clusterUrls(), attachCluster() (its module mentions both), the variables. */
export const CLUSTER_USE = /\bclusterUrls\b|\bAMQP_CLUSTER_(URLS|CONTROL)_VAR\b|NOFLO_MSGFLO_TEST_AMQP_CLUSTER/;
/** Define (rather than use) the names: ./env, which every broker test loads, and this module. */
const DEFINING = new Set([path.join(__dirname, 'env.js'), __filename]);

/**
 * Whether any of the compiled test `files`, or a local module they load
 * (`require("./...")` / `require("../...")`, followed transitively), matches
 * `use`, the modules defining the names aside. Errs towards starting a broker: a module
 * that mentions one anywhere counts, used or not.
 */
export function uses(files: readonly string[], use: RegExp): boolean {
  const seen = new Set<string>();
  const pending = [...files];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file) || DEFINING.has(file)) continue;
    seen.add(file);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue; // a directory's index.js or a module outside dist: not ours to follow
    }
    if (use.test(text)) return true;
    for (const match of text.matchAll(/\brequire\("(\.\.?\/[^"]+)"\)/g)) {
      const target = path.resolve(path.dirname(file), match[1] ?? '.');
      pending.push(target.endsWith('.js') ? target : `${target}.js`, path.join(target, 'index.js'));
    }
  }
  return false;
}
