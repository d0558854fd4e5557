/**
 * Where a client's calls go and what happens when one fails: the broker to try, redirects to
 * the leader, retries with back-off across the brokers within the call's budget, and the
 * typed error when it gives up. LogClient runs every unary and pipelined call through it;
 * its resumable streams (broker-streams.ts) use the same choice of broker.
 */

import { Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode } from '../../errors/index.js';
import { Backoff, ErrorMetadataKey } from '../transport/index.js';
import { sleepUnlessAborted } from './abortable.js';
import { awaitReady, type BrokerChannels } from './broker-channels.js';
import { describe, failedBelowNode, failureCode, firstValue, operationWords, toClientError, type Delivery } from './call-errors.js';
import { AbortedError, ClientClosedError, InternalError, UnavailableError } from './errors.js';

/** One call to route: what it is, whether it may be repeated, and one try of it on one broker. */
export interface Attempt<T> {
  readonly operation: string;
  readonly delivery: Delivery;
  readonly signal?: AbortSignal | undefined;
  /** Only this broker, no redirects (status of one node). */
  readonly pinnedAddress?: string;
  readonly run: (client: Client, deadlineMs: number) => Promise<T>;
}

export interface CallRouterOptions {
  readonly brokers: readonly string[];
  /** Overall budget of one call, retries and redirects included. */
  readonly timeoutMs: number;
  /** How long one attempt waits to connect to a broker before trying the next. */
  readonly connectTimeoutMs: number;
  readonly retryBackoff: { readonly initialMs: number; readonly maxMs: number };
  readonly channels: BrokerChannels;
  /** Aborts when the client closes: back-off sleeps end, and every call fails with ClientClosedError from then on. */
  readonly closing: AbortSignal;
  /**
   * How the broker list follows the cluster's membership: `list` asks the broker at an
   * address for the members' client addresses; it is asked every `intervalMs` (on the next
   * call after it passed) and at once when a node answers NOT_LEADER without knowing a leader.
   * Absent: the list stays as configured.
   */
  readonly refreshBrokers?: { readonly intervalMs: number; readonly list: (address: string, deadlineMs: number) => Promise<readonly string[]> };
}

/** A forced refresh (an unknown leader) is asked at most this often: elections answer so for a while. */
const FORCED_REFRESH_INTERVAL_MS = 1_000;

/**
 * A 'once' request (an append) is not tried again with less of its budget left than this:
 * an attempt cut off by the deadline leaves its outcome unknown, where stopping before it
 * leaves nothing in flight (UnavailableError). A first attempt always goes.
 */
const ONCE_RETRY_REMAINING_MIN_MS = 100;
/**
 * Any other request is not tried again with less than this left: an attempt that can only
 * run into its deadline would answer DEADLINE_EXCEEDED in place of the failure that made the
 * client retry (a back-off sleep ends a millisecond before the deadline as often as not).
 */
const RETRY_REMAINING_MIN_MS = 10;

/**
 * Routes calls to the brokers of one client (see LogClient's class comment for the policy
 * towards a broker that stops answering). Owns the broker preferred for the next call and
 * the turn among the others; the channels and the closing signal belong to the client.
 */
export class CallRouter {
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly retryBackoff: { readonly initialMs: number; readonly maxMs: number };
  readonly channels: BrokerChannels;
  readonly closing: AbortSignal;
  #brokers: readonly string[];
  readonly #refresh: CallRouterOptions['refreshBrokers'];
  #refreshing = false;
  #refreshedAtMs = Date.now();
  /** The broker that last served a call (the leader, after a write); tried first. */
  #preferred: string;
  #cursor = 0;

  constructor(options: CallRouterOptions) {
    this.#brokers = [...options.brokers];
    this.#preferred = this.#brokers[0] ?? '';
    this.#refresh = options.refreshBrokers;
    this.timeoutMs = options.timeoutMs;
    this.connectTimeoutMs = options.connectTimeoutMs;
    this.retryBackoff = options.retryBackoff;
    this.channels = options.channels;
    this.closing = options.closing;
  }

  get brokers(): readonly string[] {
    return this.#brokers;
  }

  /**
   * Replaces the broker list by the members' client addresses (a node's Members answer): a
   * member added since the client started is used, a removed one no longer tried. An empty
   * list (a node that holds no configuration yet) changes nothing.
   */
  setBrokers(addresses: readonly string[]): void {
    const unique = [...new Set(addresses.filter((address) => address !== ''))];
    if (unique.length === 0) return;
    this.#brokers = unique;
    if (!unique.includes(this.#preferred)) this.#preferred = unique[0] ?? this.#preferred;
  }

  /**
   * Asks a broker for the members, in the background, when the refresh interval has passed
   * (or, `force`d, when a second has: a node that knows no leader). One ask at a time; a
   * failed ask changes nothing and is tried again at the next chance.
   */
  refreshSoon(force: boolean): void {
    const refresh = this.#refresh;
    if (refresh === undefined || this.#refreshing || this.closing.aborted) return;
    const nowMs = Date.now();
    if (nowMs - this.#refreshedAtMs < (force ? FORCED_REFRESH_INTERVAL_MS : refresh.intervalMs)) return;
    this.#refreshedAtMs = nowMs;
    this.#refreshing = true;
    refresh
      .list(this.firstBroker(), nowMs + this.connectTimeoutMs + this.timeoutMs)
      .then(
        (addresses) => this.setBrokers(addresses),
        () => undefined,
      )
      .finally(() => {
        this.#refreshing = false;
      });
  }

  /** The broker to start with: the one that served last while it is usable, else the next usable one. */
  firstBroker(): string {
    return this.usableOr(this.#preferred);
  }

  /** `address` served a call: calls start there from now on. */
  servedBy(address: string): void {
    this.#preferred = address;
  }

  checkOpen(): void {
    if (this.closing.aborted) throw new ClientClosedError('the client is closed');
  }

  /**
   * Runs one operation with redirects and retries until it succeeds, fails for good, or
   * the time budget runs out.
   */
  async call<T>(attempt: Attempt<T>): Promise<T> {
    this.checkOpen();
    this.refreshSoon(false);
    const signal = attempt.signal;
    if (signal === undefined) return this.#attempts(attempt, this.closing, { sent: false });
    if (signal.aborted) throw abortedError(attempt, { sent: false });
    // Settles with the first of the call and the abort; the attempt under way is left to end
    // by its own deadline (a unary call) or to find no one waiting (a pipelined answer).
    const progress = { sent: false };
    let onAbort = (): void => undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(abortedError(attempt, { sent: progress.sent }));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([this.#attempts(attempt, AbortSignal.any([signal, this.closing]), progress), aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * The next configured broker in turn that is usable (BrokerChannels.usable); when none is
   * (the whole cluster unreachable), simply the next, to wait for its connection.
   */
  nextBroker(): string {
    for (let k = 0; k < this.#brokers.length; k++) {
      const address = this.#brokerAt(this.#cursor++);
      if (this.channels.usable(address)) return address;
    }
    return this.#brokerAt(this.#cursor++);
  }

  /** `address` while it is usable, else the next usable broker. */
  usableOr(address: string): string {
    return this.channels.usable(address) ? address : this.nextBroker();
  }

  /** call()'s retry loop; `stop` ends its back-off sleeps, `progress.sent` says whether a 'once' request may have left. */
  async #attempts<T>(attempt: Attempt<T>, stop: AbortSignal, progress: { sent: boolean }): Promise<T> {
    const deadlineMs = Date.now() + this.timeoutMs;
    const backoff = new Backoff(this.retryBackoff);
    let address = attempt.pinnedAddress ?? this.firstBroker();
    let lastError: unknown = null;
    let redirectedLast = false;
    for (;;) {
      this.checkOpen();
      const retryRemainingMinMs = attempt.delivery === 'once' ? ONCE_RETRY_REMAINING_MIN_MS : RETRY_REMAINING_MIN_MS;
      if (Date.now() >= deadlineMs || (lastError !== null && deadlineMs - Date.now() < retryRemainingMinMs)) {
        throw new UnavailableError(`${operationWords(attempt.operation)}: no broker could serve it within ${this.timeoutMs} ms (${describe(lastError)})`, { cause: lastError });
      }
      const client = this.channels.get(address);
      let retryAt: string | null;
      if (!(await awaitReady(client, Math.min(deadlineMs, Date.now() + this.connectTimeoutMs)))) {
        lastError = new Error(`cannot connect to ${address}${this.channels.connectHint}`);
        this.channels.markUnresponsive(address);
        retryAt = null;
      } else {
        if (stop.aborted) throw new AbortedError(`${attempt.operation}: aborted before it was sent`);
        progress.sent = true;
        try {
          const result = await attempt.run(client, deadlineMs);
          this.channels.markResponsive(address);
          if (attempt.pinnedAddress === undefined) this.servedBy(address);
          return result;
        } catch (error) {
          const serviceError = error as ServiceError;
          if (this.closing.aborted) throw new ClientClosedError(`${operationWords(attempt.operation)}: the client was closed`, { cause: error });
          // Before #retryTarget, which throws for an append whose outcome is now unknown.
          if (failedBelowNode(serviceError)) this.channels.markUnresponsive(address);
          retryAt = this.#retryTarget(serviceError, attempt);
          lastError = serviceError;
        }
      }
      // Followers name a stopped leader until they elect another: not followed (see
      // LogClient's class comment), the others are asked again after the back-off.
      if (retryAt !== null && !this.channels.usable(retryAt)) retryAt = null;
      // A first redirect goes at once; anything else (and redirect after redirect, while
      // an election settles) waits its turn.
      const redirect = retryAt !== null;
      if (!redirect || redirectedLast) await sleepUnlessAborted(Math.min(backoff.nextDelayMs(), Math.max(0, deadlineMs - Date.now())), stop);
      if (stop.aborted && !this.closing.aborted) throw new AbortedError(`${attempt.operation}: aborted`);
      redirectedLast = redirect;
      address = attempt.pinnedAddress ?? retryAt ?? this.nextBroker();
    }
  }

  /**
   * After a failed attempt: the address to redirect to (a leader's), or null to retry at the
   * next broker. Throws the typed error when the failure is not to be retried.
   */
  #retryTarget(error: ServiceError, attempt: Attempt<unknown>): string | null {
    const code = failureCode(error);
    if (code === ErrorCode.notLeader) {
      // Nothing was proposed: safe for any operation.
      const leaderAddress = firstValue(error.metadata, ErrorMetadataKey.leaderAddress);
      // No leader known, or one this client has not heard of: the membership may have changed.
      if (leaderAddress === undefined || !this.#brokers.includes(leaderAddress)) this.refreshSoon(true);
      return leaderAddress !== undefined && attempt.pinnedAddress === undefined ? leaderAddress : null;
    }
    // A 'once' request got here only after it was sent (#attempts): its outcome is unknown.
    if (code === ErrorCode.unavailable && attempt.delivery === 'idempotent') return null;
    throw toClientError(error, attempt.operation, attempt.delivery);
  }

  #brokerAt(position: number): string {
    return this.#brokers[position % this.#brokers.length] ?? this.#preferred;
  }
}

/** One unary call on one broker, failing with the gRPC error as it came (CallRouter decides what it means). */
export function unary<Req, Res>(
  client: Client,
  path: string,
  serialize: (value: Req) => Buffer,
  deserialize: (bytes: Buffer) => Res,
  request: Req,
  deadlineMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(path, serialize, deserialize, request, new Metadata(), { deadline: deadlineMs }, (error, response) => {
      if (error !== null) reject(error);
      else if (response === undefined) reject(new InternalError(`${path} answered nothing`));
      else resolve(response);
    });
  });
}

/** Why an aborted call ended, with what it means for a write that may have left. */
function abortedError(attempt: Attempt<unknown>, { sent }: { readonly sent: boolean }): AbortedError {
  if (attempt.delivery === 'once' && sent) return new AbortedError(`${attempt.operation}: aborted while a request was on its way; it may or may not have been committed`);
  return new AbortedError(`${attempt.operation}: aborted${sent ? '' : ' before it was sent'}`);
}
