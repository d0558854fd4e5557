import { Client, connectivityState, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { clientChannelCredentials, PLAINTEXT_PASSWORD_REFUSAL, type ClientAuth, type ClientTlsOptions } from '../transport/index.js';
import { InvalidArgumentError } from './errors.js';

/**
 * The HTTP/2 receive window of every channel: what a broker may send ahead of what this
 * client has read, per stream (the bound on a slow consumer's buffering). Responses of
 * reads, follows and consume streams run to a megabyte; with HTTP/2's default 64 KiB each
 * one waited for window updates on the way.
 */
export const CHANNEL_RECEIVE_WINDOW_BYTES = 1024 * 1024;

/**
 * How long a connected broker may leave an HTTP/2 ping unanswered before its connection is
 * dropped. A broker that is alive but not answering (stopped, in a long pause, behind a
 * half-open network) is found this way whatever a call's deadline is: every call on that
 * connection fails (an append already sent with OutcomeUnknownError) and the client moves
 * on. The timeout is the length of the cluster's own patience: its followers elect a new
 * leader after 0.5-1 s without heartbeats (50 ms ticks, 10 election ticks), so a client
 * that waits 1 s for a ping is no quicker to give up on a node than Raft is.
 */
export interface KeepaliveOptions {
  /** A ping goes this long after the previous answer, while calls are open. */
  readonly intervalMs: number;
  /** No answer within this: the connection is dropped. */
  readonly timeoutMs: number;
}

export const KEEPALIVE_DEFAULTS: KeepaliveOptions = { intervalMs: 500, timeoutMs: 1_000 };

/**
 * One gRPC channel per broker address, made on first use and reused until close(), and
 * which of them failed us at the transport level (unresponsive: no connection, or one that
 * dropped) and have not served a call since.
 */
export class BrokerChannels {
  readonly #options: ChannelOptions;
  /** Shared by every channel: plaintext, or TLS with the client's CA (and certificate). */
  readonly #credentials: ChannelCredentials;
  readonly #clients = new Map<string, Client>();
  /** Addresses whose last attempt failed below the node (a subset of #clients' keys). */
  readonly #unresponsive = new Set<string>();
  /** Bounds the map: redirects may name addresses beyond the configured brokers. */
  readonly #addressesMax: number;

  constructor(options: { readonly messageBytesMax: number; readonly addressesMax: number; readonly keepalive?: KeepaliveOptions; readonly tls?: ClientTlsOptions; readonly auth?: ClientAuth }) {
    const keepalive = options.keepalive ?? KEEPALIVE_DEFAULTS;
    // Checked here so the caller gets a client error class, not the wire layer's RangeError.
    if (options.auth !== undefined && options.tls === undefined) throw new InvalidArgumentError(PLAINTEXT_PASSWORD_REFUSAL);
    try {
      this.#credentials = clientChannelCredentials(options.tls, options.auth);
    } catch (error) {
      if (error instanceof RangeError) throw new InvalidArgumentError(error.message, { cause: error });
      throw error;
    }
    this.connectHint =
      options.tls === undefined
        ? ' (down, or serving TLS: then give the CA with --tls-ca / the tls option)'
        : " (down, not serving TLS, or its certificate is not signed by the given CA, not valid now, or not for this host)";
    this.#addressesMax = options.addressesMax;
    this.#options = {
      'grpc.max_receive_message_length': options.messageBytesMax,
      'grpc.max_send_message_length': options.messageBytesMax,
      // The channel's own redial back-off (default up to 2 minutes) must stay short: a
      // broker that comes back should be usable within our retry budget.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
      // Finds a broker that stopped answering under an open call or stream (KeepaliveOptions).
      'grpc.keepalive_time_ms': keepalive.intervalMs,
      'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
      'grpc-node.flow_control_window': CHANNEL_RECEIVE_WINDOW_BYTES,
    };
  }

  /**
   * Why a broker may not connect, as a suffix of "cannot connect to ADDRESS": grpc-js does
   * not hand out the TLS handshake's error, so this names the usual causes for the mode.
   */
  readonly connectHint: string;

  get(address: string): Client {
    let client = this.#clients.get(address);
    if (client === undefined) {
      if (this.#clients.size >= this.#addressesMax) this.#evictOne();
      client = new Client(address, this.#credentials, this.#options);
      this.#clients.set(address, client);
    }
    return client;
  }

  /** The broker failed an attempt below the node: it could not be reached, or its connection dropped. */
  markUnresponsive(address: string): void {
    if (this.#clients.has(address)) this.#unresponsive.add(address);
  }

  /** The broker served a call. */
  markResponsive(address: string): void {
    this.#unresponsive.delete(address);
  }

  /**
   * Whether an attempt may go to `address` now: yes unless it is marked unresponsive and
   * its channel is not connected at this instant. Nothing waits here; asking starts a
   * reconnection of an idle channel, which (under grpc-js's own back-off) is the only
   * traffic a stuck broker gets until it answers again and so becomes usable.
   */
  usable(address: string): boolean {
    if (!this.#unresponsive.has(address)) return true;
    const client = this.#clients.get(address);
    return client !== undefined && client.getChannel().getConnectivityState(true) === connectivityState.READY;
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
    this.#unresponsive.clear();
  }

  #evictOne(): void {
    const [address, client] = this.#clients.entries().next().value ?? [];
    if (address === undefined || client === undefined) return;
    client.close();
    this.#clients.delete(address);
    this.#unresponsive.delete(address);
  }
}

/**
 * Waits until the channel is connected (true), or it failed to connect or `deadlineMs`
 * passed (false). A request issued only on a ready channel lets the caller tell "never left
 * this process" from "left and then the connection dropped".
 */
export function awaitReady(client: Client, deadlineMs: number): Promise<boolean> {
  const channel = client.getChannel();
  return new Promise((resolve) => {
    const check = (): void => {
      // Looked at before asking it to connect: grpc-js lets a request to connect take a
      // closed channel back to CONNECTING, and every wait on it would then outlive close()
      // until its deadline.
      if (channel.getConnectivityState(false) === connectivityState.SHUTDOWN) return resolve(false);
      const state = channel.getConnectivityState(true);
      if (state === connectivityState.READY) return resolve(true);
      if (state === connectivityState.TRANSIENT_FAILURE || state === connectivityState.SHUTDOWN) return resolve(false);
      if (Date.now() >= deadlineMs) return resolve(false);
      channel.watchConnectivityState(state, deadlineMs, (error) => (error === undefined ? check() : resolve(false)));
    };
    check();
  });
}
