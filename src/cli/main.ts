/**
 * The command-line program: run a participant (the default), `setup`,
 * `coordinator`, `status`, `procfile`, `send`, `dump`, `version`.
 */
import path from 'node:path';
import { Command, Option } from 'commander';
import { DEFAULT_SHELL } from '../host/shell-words';
import { spareNofloTypescript } from '../runtime/noflo-typescript';
import { collectBroker } from './broker';
import { DEFAULT_HTTP_HOST } from './ops';
import { checkHelpTopic, commanderError, HELP, unknownCommand } from './help';
import { data, fail, guardOutputStreams, PROGRAM } from './output';
import type { run } from './run';
import { versionText } from './version';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

const LIBRARY_HELP = 'participant library: commands of components by name, msgflo\'s format (default: msgflo.json, else package.json\'s "msgflo" key)';
const COMPONENT_DIR_HELP = 'directory of participant files, each started through the library handler of its extension (default: participants)';
const SHELL_HELP = `start library commands through this shell (alone: ${DEFAULT_SHELL})`;
const FORWARD_HELP = "pass on the library participants' output, each line after its role: stderr, stdout or stderr,stdout (alone: both)";

const BROKER_LIST_HELP = 'repeatable, or a comma-separated list, for the nodes of a cluster';

const EXAMPLES = `
Examples:
  $ ${PROGRAM} --name repeat --graph core/Repeat
      run core/Repeat as role "repeat" (embedded MQTT broker when none is configured)
  $ ${PROGRAM} --name compute_* --graph project/MyGraph --broker amqp://guest:guest@localhost
  $ ${PROGRAM} --name repeat --graph graphs/Repeat.fbp --prefetch 8 --deadletter '*'
  $ ${PROGRAM} --name repeat --graph core/Repeat --attr inports.in.queue=jobs --attr outports.out.hidden=true
  $ ${PROGRAM} --participants workers.json --broker amqp://localhost
      host every participant of workers.json in this one process
  $ ${PROGRAM} --participants workers.json --broker amqp://rabbit1 --broker amqp://rabbit2 --queue-type quorum
      the same on a two-node RabbitMQ cluster, with quorum inqueues
  $ ${PROGRAM} --system graphs/RepeatChain.fbp --keep-going
  $ ${PROGRAM} setup graphs/RepeatChain.fbp --participants --forever
      start the system's participants (NoFlo ones here, others from the library) and bind them all
  $ ${PROGRAM} procfile graphs/RepeatChain.fbp --ignore second > Procfile
  $ ${PROGRAM} send --queue repeat.IN --json '{"hello": "world"}'
  $ ${PROGRAM} send --queue repeat.IN --file job.json
  $ ${PROGRAM} dump --queue repeat.OUT --amount 1

The broker comes from --broker, else $MSGFLO_BROKER, else $CLOUDAMQP_URL, else the
embedded MQTT broker on mqtt://127.0.0.1:1883 ($MSGFLO_EMBEDDED_PORT for another port),
started by the first process that finds no broker there and gone when it stops.
Supported: amqp://, amqps://, mqtt://, mqtts://.
For the nodes of a cluster, repeat --broker or give a comma-separated list (in the
variables too): they are tried in turn, from a random one, at start and on every
reconnection. A comma in a password is written %2C.
Debug logs: DEBUG=noflo-runtime-msgflo:* ${PROGRAM} ...`;

/** A subcommand's examples, for the end of its --help. */
function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((line) => (line.startsWith(' ') ? `    ${line.trim()}` : `  $ ${PROGRAM} ${line}`)).join('\n')}`;
}

/**
 * Build the commander program. Each command's module (and what it uses) is
 * loaded in its action, when that command runs: `--help` and a participant
 * load none of the others.
 */
export function program(): Command {
  const cli = new Command(PROGRAM)
    // Set before the subcommands, which copy them.
    .configureOutput({ outputError: (text, write) => write(commanderError(text)) })
    .configureHelp(HELP)
    .version(versionText(), '-V, --version', 'print the versions of this program, NoFlo and Node')
    .description('Run a NoFlo graph or component as a MsgFlo participant on an AMQP or MQTT broker')
    .option('-n, --name <role>', 'role of the participant; "*" becomes a random string')
    .option('-g, --graph <graph>', 'component (core/Repeat), graph (project/MyGraph) or file (graphs/Repeat.fbp)')
    .option('-b, --broker <url>', `broker URL (amqp://, mqtt://); ${BROKER_LIST_HELP}`, collectBroker)
    .option('--basedir <dir>', 'project directory to load components from (default: current directory)')
    .option('--prefetch <n>', 'jobs in flight per inport', '1')
    .option('--deadletter <ports>', "inports whose failed messages are kept in dead-<queue> ('in1,in2' or '*')")
    .option('--iips <json>', 'initial packets by inport, replacing the graph\'s own, e.g. \'{"prefix": ">"}\'')
    .option('--attr <key.sub=value>', 'set an option, e.g. inports.in.queue=jobs (repeatable)', collect)
    .option('--trace', 'record a Flowtrace of the network')
    .option('--cache', 'use the component manifest cache (fbp.json)')
    .addOption(new Option('--dedicated-network', 'a fresh NoFlo network per message, shut down after it'))
    .option('--job-timeout <ms>', 'dead-letter a job not done after this many milliseconds, its reason saying it timed out')
    .option('--slow-job <seconds>', 'warn once of a job in flight this long, naming the node holding it (default: 10 times the median job, at least 30)')
    .option('--config-wait <seconds>', 'how long a job waits for its node\'s configuration (a control port with no packet yet, such as an IIP on its way) before it fails (default: 10)')
    .option('--max-message-size <bytes>', 'dead-letter messages larger than this (default: 16 MiB)')
    .option('--drain-timeout <seconds>', 'on SIGTERM, wait this long for in-flight jobs (default: 30)')
    .option('--connect-timeout <seconds>', 'at start, keep trying to reach the broker this long (default: 30)')
    .addOption(new Option('--queue-type <type>', 'AMQP inqueue type; with --participants or --system, of every participant that does not set its own').choices(['classic', 'quorum']))
    .addOption(new Option('--on-unroutable <what>', 'AMQP: an output the broker routes to no queue is only counted (ack, default) or fails its job (fail); per port: --attr outports.PORT.unroutable=fail').choices(['ack', 'fail']))
    .option('--delivery-limit <n>', 'quorum queues: deliveries before a message is dead-lettered (default: 5)')
    .option('--client-id <id>', 'MQTT client id prefix, stable across restarts (default: msgflo-ROLE)')
    .addOption(new Option('--mqtt-qos <qos>', 'MQTT QoS of inputs and outputs; 0 acknowledges nothing and loses messages in flight when the participant or broker fails (default: 1)').choices(['0', '1']))
    .option('--tls-ca <file>', 'CA certificate(s) to trust, PEM (amqps://, mqtts://)')
    .option('--tls-cert <file>', 'client certificate, PEM')
    .option('--tls-key <file>', 'client private key, PEM')
    .option('--crash-on-exception', 'exit on an exception thrown by a component, as the original did')
    .option('--protocol-port <port>', 'also serve the FBP runtime protocol over a WebSocket on this 127.0.0.1 port (read-only unless --protocol-full)')
    .option('--protocol-full', 'the full FBP runtime protocol (graph editing, network control and data, all components), on the .fbp queue pair and --protocol-port; for development')
    .option('--participants <file>', 'host the participants of a JSON file (an array of options objects) in this process')
    .option('--system <graph>', 'host every node of a system graph whose component NoFlo can load here, named after the node')
    .option('--keep-going', 'with --participants or --system: run the others when a participant cannot start')
    .option('--http-port <port>', 'serve /metrics (Prometheus), /healthz and /readyz on this port (0: any free one)')
    .option('--http-host <host>', `address for --http-port (default: ${DEFAULT_HTTP_HOST})`)
    .addOption(new Option('--log-format <format>', 'text, or json: a JSON line per job outcome on stdout').choices(['text', 'json']).default('text'))
    .addHelpText('after', EXAMPLES)
    .showSuggestionAfterError()
    // Flags after `send` or `dump` are theirs, --broker included.
    .enablePositionalOptions();

  cli
    .command('setup')
    .description('bind the participants of a system graph (like msgflo-setup); exits once bound, unless --forever')
    .argument('<graph>', 'system graph, .fbp or .json')
    .option('-b, --broker <url>', `broker URL (default: $MSGFLO_BROKER, else the embedded broker address); ${BROKER_LIST_HELP}`, collectBroker)
    .option('--basedir <dir>', 'project directory for graphs and components (default: current directory)')
    .option('--participants', "also start the graph's participants: NoFlo ones in this process, others from the participant library")
    .option('--only <roles>', 'with --participants: start only these roles, repeatable or comma-separated (the others are bound when they appear)', collect)
    .option('--ignore <roles>', 'neither start nor bind these roles, repeatable or comma-separated', collect)
    .option('--library <file>', `with --participants: ${LIBRARY_HELP}`)
    .option('--componentdir <dir>', `with --participants: ${COMPONENT_DIR_HELP}`)
    .option('--shell [shell]', `with --participants: ${SHELL_HELP}`)
    .option('--forward [streams]', `with --participants: ${FORWARD_HELP}`)
    .option('--discover', "for msgflo-setup's command lines: bindings always come from the participants' discovery messages here")
    .addOption(new Option('--queue-type <type>', 'with --participants: AMQP inqueue type of every participant hosted here').choices(['classic', 'quorum']))
    .addOption(new Option('--on-unroutable <what>', 'with --participants: what an output routed to no queue means for its job (ack, default, or fail)').choices(['ack', 'fail']))
    .option('--forever', 'keep coordinating (late participants, restarts) until SIGTERM')
    .option('--timeout <seconds>', 'how long to wait for the roles to be discovered', '30')
    .option('--http-port <port>', 'with --participants: serve their /metrics, /healthz and /readyz on this port')
    .option('--http-host <host>', `address for --http-port (default: ${DEFAULT_HTTP_HOST})`)
    .addOption(new Option('--log-format <format>', 'with --participants: text, or json (a JSON line per job outcome)').choices(['text', 'json']).default('text'))
    .option('--tls-ca <file>', 'CA certificate(s) to trust, PEM (amqps://, mqtts://)')
    .option('--tls-cert <file>', 'client certificate, PEM')
    .option('--tls-key <file>', 'client private key, PEM')
    .addHelpText('after', examples(
      'setup graphs/RepeatChain.fbp --broker amqp://localhost',
      '  bind the roles of RepeatChain.fbp once they are discovered, then exit',
      'setup graphs/RepeatChain.fbp --participants --forever',
      "  also start the system's participants, and keep them bound",
    ))
    .action(async (graph: string, flags) => (await import('./setup')).setup(graph, flags));

  cli
    .command('coordinator')
    .description('keep a system graph bound, and let FBP protocol clients (Flowhub) see and edit it over a WebSocket')
    .option('-g, --graph <graph>', 'system graph to start from, .fbp or .json (default: an empty one, "main")')
    .option('-b, --broker <url>', `broker URL (default: $MSGFLO_BROKER, else the embedded broker, started when none listens); ${BROKER_LIST_HELP}`, collectBroker)
    .option('--basedir <dir>', 'project directory for graphs and the components nodes can start (default: current directory)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', '3569')
    .option('--secret <secret>', 'required of every client request; required itself when --host is not loopback')
    .option('--library <file>', LIBRARY_HELP)
    .option('--componentdir <dir>', COMPONENT_DIR_HELP)
    .option('--shell [shell]', SHELL_HELP)
    .option('--forward [streams]', FORWARD_HELP)
    .addOption(new Option('--queue-type <type>', 'AMQP inqueue type of the participants the coordinator starts in this process').choices(['classic', 'quorum']))
    .addOption(new Option('--on-unroutable <what>', 'for the participants the coordinator starts: what an output routed to no queue means for its job (ack, default, or fail)').choices(['ack', 'fail']))
    .option('--http-port <port>', 'serve the live system page (/), /metrics, /healthz and /readyz on this port')
    .option('--http-host <host>', `address for --http-port (default: ${DEFAULT_HTTP_HOST})`)
    .option('--tls-ca <file>', 'CA certificate(s) to trust, PEM (amqps://, mqtts://)')
    .option('--tls-cert <file>', 'client certificate, PEM')
    .option('--tls-key <file>', 'client private key, PEM')
    .addHelpText('after', examples(
      'coordinator --graph graphs/RepeatChain.fbp --broker amqp://localhost',
      '  then open Flowhub on ws://127.0.0.1:3569',
      'coordinator --host 0.0.0.0 --secret s3cret --http-port 8080',
    ))
    .action(async (flags) => (await import('./coordinator')).coordinate(flags));

  cli
    .command('status')
    .description('listen to discovery for one heartbeat, then print roles, participants, ports, queues and (AMQP) queue depths')
    .option('-b, --broker <url>', `broker URL (default: $MSGFLO_BROKER, else the embedded broker address); ${BROKER_LIST_HELP}`, collectBroker)
    .option('--wait <seconds>', 'how long to listen (default: one heartbeat, $MSGFLO_DISCOVERY_PERIOD / 2.2, 27 s)')
    .option('--tls-ca <file>', 'CA certificate(s) to trust, PEM')
    .option('--tls-cert <file>', 'client certificate, PEM')
    .option('--tls-key <file>', 'client private key, PEM')
    .addHelpText('after', examples('status --broker amqp://localhost', 'status --wait 5'))
    .action(async (flags) => (await import('./status')).status(flags));

  cli
    .command('procfile')
    .description('print a Procfile with a line per role of a system graph (like msgflo-procfile)')
    .argument('<graph>', 'system graph, .fbp or .json')
    .option('--basedir <dir>', 'project directory for graphs and components (default: current directory)')
    .option('--ignore <role>', 'leave a role out (repeatable, or comma-separated)', collect)
    .option('--include <line>', 'add a line, e.g. for a participant of another runtime (repeatable)', collect)
    .option('--library <file>', LIBRARY_HELP)
    .option('--components <dir>', COMPONENT_DIR_HELP)
    .addHelpText('after', examples('procfile graphs/RepeatChain.fbp > Procfile', "procfile graphs/RepeatChain.fbp --ignore second --include 'web: node web.js'"))
    .action(async (graph: string, flags) => (await import('./procfile')).procfile(graph, flags));

  cli
    .command('send')
    .description('send one message to a queue; exits 1 when the broker takes it nowhere (AMQP) or refuses it')
    .requiredOption('-q, --queue <queue>', 'queue to send to, e.g. repeat.IN')
    .option('-j, --json <data>', 'message, as JSON')
    .option('-f, --file <path>', 'message, as a file of JSON ("-": standard input)')
    .option('-b, --broker <url>', `broker URL (default: $MSGFLO_BROKER, else the embedded broker address); ${BROKER_LIST_HELP}`, collectBroker)
    .option('--tls-ca <file>', 'CA certificate(s) to trust, PEM')
    .option('--tls-cert <file>', 'client certificate, PEM')
    .option('--tls-key <file>', 'client private key, PEM')
    .addHelpText('after', examples(`send --queue repeat.IN --json '{"hello": "world"}'`, 'send --queue repeat.IN --file job.json', 'send --queue repeat.IN --file - < job.json'))
    .action(async (flags) => (await import('./send')).send(flags));

  cli
    .command('dump')
    .description('print messages arriving on a queue, one JSON line each on stdout, without taking them from its consumers')
    .requiredOption('-q, --queue <queue>', 'inqueue or outqueue to listen to, e.g. repeat.IN, repeat.OUT')
    .option('-a, --amount <n>', 'exit after this many messages')
    .option('-b, --broker <url>', `broker URL (default: $MSGFLO_BROKER, else the embedded broker address); ${BROKER_LIST_HELP}`, collectBroker)
    .option('--tls-ca <file>', 'CA certificate(s) to trust, PEM')
    .option('--tls-cert <file>', 'client certificate, PEM')
    .option('--tls-key <file>', 'client private key, PEM')
    .addHelpText('after', examples('dump --queue repeat.OUT', 'dump --queue repeat.OUT --amount 1 --broker amqp://localhost'))
    .action(async (flags) => (await import('./dump')).dump(flags));

  cli
    .command('version')
    .description('print the versions of this program, NoFlo and Node (as --version)')
    .addHelpText('after', examples('version'))
    .action(() => data(versionText()));

  // `help send` as `send --help`; set last, so only the program has it.
  cli.helpCommand(true);

  // Only the program itself takes a stray word, to name it (subcommands keep commander's check).
  cli.allowExcessArguments().action(async (flags: Parameters<typeof run>[0], command: Command) => {
    const [word] = command.args;
    if (word !== undefined) {
      unknownCommand(cli, word);
    }
    await (await import('./run')).run(flags);
  });
  return cli;
}

/** Run the program on `argv` (as process.argv). */
export async function main(argv: readonly string[]): Promise<void> {
  guardOutputStreams();
  try {
    // Before anything loads NoFlo: this package's NoFlo, and the project's own.
    spareNofloTypescript([path.dirname(require.resolve('noflo')), process.cwd()]);
    const cli = program();
    if (argv.length <= 2) {
      // Nothing asked: the usage, on stderr with exit 1 as for any other call that cannot run.
      cli.help({ error: true });
    }
    if (argv[2] === 'help' && argv[3] !== undefined) {
      checkHelpTopic(cli, argv[3]);
    }
    await cli.parseAsync([...argv]);
  } catch (err) {
    fail(err);
  }
}

if (require.main === module) {
  void main(process.argv);
}
