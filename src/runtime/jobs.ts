/**
 * The jobs in a network, and when each is over. A job's packets carry its id
 * as their NoFlo IP scope (see `./network.ts`), and so does every activation
 * of a component they start: the job's work is counted by scope, and once
 * none is left and no output of it waits in an ordered component's queue,
 * the job completes. It fails instead when something of it went wrong on the
 * way (see {@link JobTracker.nodeFailed}), or when a packet of it is still
 * held in an inport (a component waiting for input that will not come),
 * unless its node declares that it holds packets. A job held only because
 * its node's configuration has not come yet (a control port with no packet:
 * an IIP the coordinator sends once it hears the participant, while the
 * backlog of a restarted participant arrives at once) waits for it, up to a
 * limit, and goes on once it comes.
 */
import createDebug from 'debug';
import noflo from 'noflo';
import { AsyncLocalStorage } from 'node:async_hooks';
import { errorMessage } from '../errors';
import { HOLDS_METADATA, findHeld, forgetScope, hasQueuedOutput, redeliverHeld, type GraphNode, type HeldPacket } from './nodes';

const debug = createDebug('noflo-runtime-msgflo:jobs');

type Component = InstanceType<typeof noflo.Component>;

/** How many given-up jobs a network remembers, to drop what they still send. */
const GIVEN_UP_KEPT = 10_000;

/** Where a network's outputs and job outcomes go. `J` is the caller's job handle. */
export interface JobSink<J> {
  /** Data left the network on an exported outport; `job` is undefined for data outside any job. */
  output(port: string, data: unknown, job: J | undefined): void;
  /** A job completed; `error` is set when it failed, and says why. */
  complete(job: J, error: string | undefined): void;
}

/** The part of a NoFlo process context that job tracking touches. */
interface ProcessContext {
  activated: boolean;
  deactivated: boolean;
  result: { __resolved?: boolean };
  /** The scope of the packet that started it (absent on a subgraph's own context). */
  scope?: string | null;
}

/** A job in the network; also what the code running for it sees (see {@link jobContext}). */
export interface OpenJob<J> {
  readonly id: string;
  readonly tracker: JobTracker<unknown>;
  /**
   * The caller's job; dropped once the job is done, since the context can
   * outlive it (a timer a component starts keeps it) and should not keep the
   * message it carried.
   */
  handle: J | undefined;
  /** Why it fails, once something failed it; the first reason wins. */
  error: string | undefined;
  /** Component work in progress for the job, by activation: counted, and released when the job is given up. */
  work: Map<ProcessContext, Component> | undefined;
}

/**
 * The job whose processing the current code runs for. A component's timers
 * and promises inherit it, so an exception they throw, caught by the
 * process-wide handler, can fail that job alone (see {@link failCurrentJob});
 * and work or output whose packet lost its scope (a component that sends
 * fresh IPs on an unscoped port) is still told apart.
 */
const jobContext = new AsyncLocalStorage<OpenJob<unknown>>();

/** Which job each activation counts for, to uncount it when it ends. */
const owners = new WeakMap<ProcessContext, OpenJob<unknown>>();

/**
 * Fail the job the current asynchronous context belongs to, if any; for
 * `uncaughtException` and `unhandledRejection` handlers. Returns whether a
 * job was found.
 */
export function failCurrentJob(error: unknown): boolean {
  const job = jobContext.getStore();
  if (!job) {
    return false;
  }
  job.tracker.fail(job.id, errorMessage(error));
  return true;
}

/** The jobs of one network. */
export class JobTracker<J> {
  private readonly jobs = new Map<string, OpenJob<J>>();
  /** Jobs given up (failed before their work ended): what they still send is dropped. */
  private readonly givenUp = new Set<string>();
  private nextJob = 0;
  /** Jobs to look at once the current send chain is over. */
  private readonly toCheck = new Set<OpenJob<J>>();
  /** Jobs whose work is over but an output of which an ordered component still keeps back. */
  private readonly queued = new Set<OpenJob<J>>();
  private checkTimer: NodeJS.Immediate | undefined;
  /** Jobs held until their node's configuration comes, each with the timer that fails it. */
  private readonly unconfigured = new Map<OpenJob<J>, NodeJS.Timeout>();
  private readonly prefix = `msgflo-job-${Math.random().toString(36).slice(2, 8)}-`;

  /**
   * @param nodes - the network's components, looked through for what a job
   *   left behind (the caller adds nodes added later)
   * @param sink - where outcomes go, once attached
   * @param configurationWaitMs - how long, in ms, a job held only for want
   *   of its node's configuration waits for it before it fails; 0 fails it at once
   */
  constructor(
    private readonly nodes: readonly GraphNode[],
    private readonly sink: () => JobSink<J> | undefined,
    private readonly configurationWaitMs = 0,
  ) {}

  /**
   * A packet came to a control port: the jobs waiting for configuration are
   * handed to their components again, and go on if it was what they lacked.
   */
  configured(): void {
    for (const job of this.unconfigured.keys()) {
      jobContext.run(job as OpenJob<unknown>, () => redeliverHeld(this.nodes, job.id));
      this.check(job);
    }
  }

  /** Open a job for `handle` and run `post` (which sends its packet) as its work; returns the job's id. */
  run<A extends unknown[]>(handle: J, post: (id: string, ...args: A) => void, ...args: A): string {
    this.nextJob += 1;
    const id = this.prefix + this.nextJob;
    const job: OpenJob<J> = { id, tracker: this as JobTracker<unknown>, handle, error: undefined, work: undefined };
    this.jobs.set(id, job);
    try {
      jobContext.run(job, post, id, ...args);
    } catch (err) {
      // A component without an error port threw, right at the inport.
      this.fail(id, errorMessage(err));
      return id;
    }
    // Once the packet's send chain is over: it may start no work at all.
    this.check(job);
    return id;
  }

  /**
   * Complete a job now, as failed with `reason`, whatever its components are
   * still doing; outputs it sends later are dropped.
   */
  fail(id: string, reason: string): void {
    const job = this.jobs.get(id);
    if (!job) {
      return;
    }
    this.givenUp.add(id);
    if (this.givenUp.size > GIVEN_UP_KEPT) {
      this.givenUp.delete(this.givenUp.values().next().value as string);
    }
    this.finish(job, reason);
  }

  /** A node failed (it sent an error the graph drops, or threw): the job it worked for fails, naming it. */
  nodeFailed(job: OpenJob<J> | undefined, node: string, error: unknown): void {
    const reason = `node "${node}" failed: ${errorMessage(error)}`;
    if (!job) {
      debug('outside any job, %s', reason);
      return;
    }
    job.error ??= reason;
  }

  /**
   * The job a packet of `scope` belongs to: its own, or, for a packet without
   * one of ours, the job the current code runs for. Null when the scope is
   * that of a job given up.
   */
  jobOf(scope: string | null | undefined): OpenJob<J> | undefined | null {
    if (typeof scope === 'string') {
      const job = this.jobs.get(scope);
      if (job) {
        return job;
      }
      if (this.givenUp.has(scope)) {
        return null;
      }
    }
    return this.current();
  }

  /** The open job the current code runs for, if any. */
  current(): OpenJob<J> | undefined {
    const job = jobContext.getStore() as OpenJob<J> | undefined;
    return job && this.jobs.get(job.id) === job ? job : undefined;
  }

  /**
   * Count a component's activations by job. An activation whose job is
   * given up is released, so that results an ordered component keeps behind
   * it flow (NoFlo keeps them in order: one that never finishes would hold
   * back every job after it).
   */
  track(component: Component): void {
    const activate = component.activate.bind(component);
    const deactivate = component.deactivate.bind(component);
    component.activate = (context: ProcessContext) => {
      const before = context.activated;
      activate(context);
      if (before || !context.activated) {
        return;
      }
      const job = this.jobOf(context.scope);
      if (job) {
        owners.set(context, job as OpenJob<unknown>);
        (job.work ??= new Map()).set(context, component);
      }
    };
    component.deactivate = (context: ProcessContext) => {
      const before = context.deactivated;
      deactivate(context);
      if (before || !context.deactivated) {
        return;
      }
      const job = owners.get(context) as OpenJob<J> | undefined;
      if (job) {
        owners.delete(context);
        job.work?.delete(context);
        if (job.work?.size === 0) {
          this.check(job);
        }
      }
      // Its outputs were sent just now, maybe those of jobs kept behind it.
      if (this.queued.size > 0) {
        for (const waiting of this.queued) {
          this.check(waiting);
        }
        this.queued.clear();
      }
    };
  }

  /** The components with work of job `id` in progress; none for a job not open. */
  working(id: string): Component[] {
    return [...(this.jobs.get(id)?.work?.values() ?? [])];
  }

  /** Stop looking at jobs (the network stops). */
  close(): void {
    clearImmediate(this.checkTimer);
    this.checkTimer = undefined;
    for (const timer of this.unconfigured.values()) {
      clearTimeout(timer);
    }
    this.unconfigured.clear();
  }

  /** Look at `job` once the current send chain is over: a packet in transit activates its receiver first. */
  private check(job: OpenJob<J>): void {
    this.toCheck.add(job);
    this.checkTimer ??= setImmediate(() => {
      this.checkTimer = undefined;
      const jobs = [...this.toCheck];
      this.toCheck.clear();
      for (const each of jobs) {
        this.settle(each);
      }
    });
  }

  /** Complete `job` if nothing of it is left in the graph; fail it if a packet of it is held there. */
  private settle(job: OpenJob<J>): void {
    if (this.jobs.get(job.id) !== job || (job.work !== undefined && job.work.size > 0)) {
      return;
    }
    if (hasQueuedOutput(this.nodes, job.id)) {
      this.queued.add(job);
      return;
    }
    const held = findHeld(this.nodes, job.id);
    if (held) {
      debug('job %s held: %o', job.id, held);
      if (job.error === undefined && held.unconfigured.length > 0 && this.configurationWaitMs > 0) {
        this.awaitConfiguration(job);
        return;
      }
    }
    this.finish(job, job.error ?? (held && heldReason(held)));
  }

  /** Keep `job` open until its node's configuration comes, or fail it once the wait is over. */
  private awaitConfiguration(job: OpenJob<J>): void {
    if (this.unconfigured.has(job)) {
      return;
    }
    const timer = setTimeout(() => {
      if (this.jobs.get(job.id) !== job) {
        return;
      }
      const held = findHeld(this.nodes, job.id);
      this.finish(job, job.error ?? (held ? heldReason(held, this.configurationWaitMs) : undefined));
    }, this.configurationWaitMs);
    this.unconfigured.set(job, timer);
  }

  private finish(job: OpenJob<J>, error: string | undefined): void {
    clearTimeout(this.unconfigured.get(job));
    this.unconfigured.delete(job);
    this.jobs.delete(job.id);
    this.queued.delete(job);
    forgetScope(this.nodes, job.id);
    const handle = job.handle as J;
    job.handle = undefined;
    const work = job.work;
    job.work = undefined;
    this.sink()?.complete(handle, error);
    for (const [context, component] of work ?? []) {
      if (context.activated && !context.deactivated) {
        context.result.__resolved = true;
        component.deactivate(context);
      }
    }
  }
}

/** Why a held job fails; `waitedMs` when it waited that long for its node's configuration. */
function heldReason(held: HeldPacket, waitedMs?: number): string {
  const waiting = held.waitingFor.length > 0 ? `waiting for input on ${held.waitingFor.map((p) => `"${p}"`).join(', ')}` : 'unprocessed';
  const waited = waitedMs !== undefined && held.unconfigured.length > 0 ? ` (its configuration did not come within ${formatWait(waitedMs)}: --config-wait)` : '';
  return `held in the graph: node "${held.node}" keeps the job's packet on inport "${held.port}", ${waiting}${waited} (a node that keeps packets on purpose says so with "${HOLDS_METADATA}": true in its metadata)`;
}

function formatWait(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
