/**
 * The public API, as `src/index.ts` exports it: every name, values and types
 * apart, read from the emitted declarations. A name added, renamed or lost
 * fails here, so that a change of the API is always one made on purpose
 * (and said in the CHANGELOG).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import * as api from '../../src/index';

const VALUES = [
  'BrokerError', 'BrokerUrlError', 'Coordinator', 'DEAD_LETTER_HEADERS', 'DISCOVERY_QUEUE', 'EMBEDDED_URL', 'ErrorCode', 'GraphLoadError', 'Host',
  'InvalidOptionError', 'METRIC_NAMES', 'MemoryBroker', 'MissingRolesError', 'MsgfloError', 'OptionProblemsError', 'Participant', 'ParticipantHealth', 'ParticipantMetrics',
  'ParticipantRegistry', 'ParticipantStartError', 'QueueInspector', 'ROUND_ROBIN_COMPONENT', 'SUPPORTED_SCHEMES', 'SystemView', 'TransportPool',
  'UnroutableError', 'bindingKey', 'createTransport', 'deadLetterQueueName', 'decode', 'defaultQueueName', 'describeBinding', 'describeEdge',
  'describeFailure', 'describeIipDelivery', 'discoveryMessage', 'downstreamOf', 'encode', 'errorMessage', 'failCurrentJob', 'graphBindings',
  'joinBrokerList', 'loadGraphFile', 'memoryBroker', 'normalizeOptions', 'parseBrokerList', 'parseBrokerUrl', 'parseDiscovery', 'parseManifest',
  'planSystem', 'readManifest', 'redactUrl', 'serveOps', 'startEmbeddedBroker', 'startParticipant', 'transportOptions',
];

const TYPES = [
  'Binding', 'ConsumerState', 'CoordinatorEvents', 'CoordinatorOptions', 'DeadLetterView', 'Delivery', 'DiscoveryMessage', 'Edge', 'EdgeOutcome',
  'EdgeView', 'EmbeddedBroker', 'Endpoint', 'Graph', 'HostEvents', 'Iip', 'IipDelivery', 'JobOutcome', 'LeftAlone', 'OpsEndpoint',
  'OpsEndpointOptions', 'ParsedDiscovery', 'ParticipantDefinition', 'ParticipantEvents', 'ParticipantInput', 'ParticipantOptions', 'PortDefinition',
  'PortOverride', 'QueueDepth', 'QueueKind', 'QueueOptions', 'Readiness', 'ReadinessCheck', 'RegistryEvents', 'RoleView', 'RouteHandler',
  'SendOptions', 'SubscribeOptions', 'Subscription', 'SystemFailure', 'SystemGraph', 'SystemPlan', 'SystemSnapshot', 'TlsOptions', 'Transport',
  'TransportEvents', 'TransportOptions', 'TransportStats',
];

test('src/index.ts exports the same values as before', () => {
  assert.deepEqual(Object.keys(api).sort(), [...VALUES].sort());
});

test('src/index.ts exports the same names, types included, as its declarations show', () => {
  const file = path.resolve(__dirname, '..', '..', 'src', 'index.d.ts');
  const program = ts.createProgram([file], { skipLibCheck: true, types: [] });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  assert.ok(source, `declarations of the API at ${file}`);
  const module = checker.getSymbolAtLocation(source);
  assert.ok(module, 'the declarations are a module');
  const exported = checker.getExportsOfModule(module).map((symbol) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    return { name: symbol.name, value: (target.flags & ts.SymbolFlags.Value) !== 0 };
  });
  assert.deepEqual(exported.filter((e) => e.value).map((e) => e.name).sort(), [...VALUES].sort(), 'values');
  assert.deepEqual(exported.filter((e) => !e.value).map((e) => e.name).sort(), [...TYPES].sort(), 'types');
});
