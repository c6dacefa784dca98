/**
 * The error classes of the runtime. Each carries a stable `code` so callers
 * (the CLI, embedders, tests) can tell failure kinds apart without matching on
 * message text, and chains the underlying error as `cause`.
 */

/** Codes of {@link MsgfloError}. */
export const ErrorCode = {
  /** A command-line flag or an option has an invalid value. */
  InvalidOption: 'EINVALIDOPTION',
  /** A broker URL is malformed or uses a scheme we do not support. */
  InvalidBrokerUrl: 'EBROKERURL',
  /** The broker could not be reached or refused us. */
  BrokerConnection: 'EBROKERCONNECT',
  /** A broker operation (declare, bind, publish) failed. */
  BrokerOperation: 'EBROKEROP',
  /** The graph or component could not be found or loaded. */
  GraphLoad: 'EGRAPHLOAD',
  /** A message could not be handled. */
  Message: 'EMESSAGE',
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of every error the runtime raises on purpose. */
export class MsgfloError extends Error {
  /** What kind of failure this is. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** An option or flag has a value we cannot use. */
export class InvalidOptionError extends MsgfloError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.InvalidOption, message, options);
  }
}

/**
 * Several options found wrong at once (entries of a participants file), each
 * a line of the message: the command line prints every one of them, not only
 * the first.
 */
export class OptionProblemsError extends InvalidOptionError {
  /** One line per problem, each naming what is wrong and where. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.problems = problems;
  }
}

/** A broker URL is malformed or unsupported. */
export class BrokerUrlError extends MsgfloError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.InvalidBrokerUrl, message, options);
  }
}

/** Talking to the broker failed. */
export class BrokerError extends MsgfloError {
  constructor(code: typeof ErrorCode.BrokerConnection | typeof ErrorCode.BrokerOperation, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * An output the broker could route to no queue (AMQP `basic.return`, reply
 * code 312 NO_ROUTE): nothing is bound to the exchange, or the queues bound
 * to it are unavailable (a classic queue whose cluster node is down).
 */
export class UnroutableError extends MsgfloError {
  /** The exchange (outqueue) published to. */
  readonly exchange: string;

  constructor(exchange: string, message: string) {
    super(ErrorCode.BrokerOperation, message);
    this.exchange = exchange;
  }
}

/** The graph or component could not be found or loaded. */
export class GraphLoadError extends MsgfloError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.GraphLoad, message, options);
  }
}

/** The message of any thrown value, for logs and one-line reports. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    return err.message;
  }
  return String(err);
}
