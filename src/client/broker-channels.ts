import { Client, connectivityState, credentials, type ChannelOptions } from '@grpc/grpc-js';

/**
 * The HTTP/2 receive window of every channel: what a broker may send ahead of what this
 * client has read, per stream (the bound on a slow consumer's buffering). Responses of
 * reads, follows and consume streams run to a megabyte; with HTTP/2's default 64 KiB each
 * one waited for window updates on the way.
 */
export const CHANNEL_RECEIVE_WINDOW_BYTES = 1024 * 1024;

/** One gRPC channel per broker address, made on first use and reused until close(). */
export class BrokerChannels {
  readonly #options: ChannelOptions;
  readonly #clients = new Map<string, Client>();
  /** Bounds the map: redirects may name addresses beyond the configured brokers. */
  readonly #addressesMax: number;

  constructor(options: { readonly maxMessageBytes: number; readonly addressesMax: number }) {
    this.#addressesMax = options.addressesMax;
    this.#options = {
      'grpc.max_receive_message_length': options.maxMessageBytes,
      'grpc.max_send_message_length': options.maxMessageBytes,
      // The channel's own redial back-off (default up to 2 minutes) must stay short: a
      // broker that comes back should be usable within our retry budget.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
      // Finds a broker that vanished under an open follow stream.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc-node.flow_control_window': CHANNEL_RECEIVE_WINDOW_BYTES,
    };
  }

  get(address: string): Client {
    let client = this.#clients.get(address);
    if (client === undefined) {
      if (this.#clients.size >= this.#addressesMax) this.#evictOne();
      client = new Client(address, credentials.createInsecure(), this.#options);
      this.#clients.set(address, client);
    }
    return client;
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
  }

  #evictOne(): void {
    const [address, client] = this.#clients.entries().next().value ?? [];
    if (address === undefined || client === undefined) return;
    client.close();
    this.#clients.delete(address);
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
      const state = channel.getConnectivityState(true);
      if (state === connectivityState.READY) return resolve(true);
      if (state === connectivityState.TRANSIENT_FAILURE || state === connectivityState.SHUTDOWN) return resolve(false);
      if (Date.now() >= deadlineMs) return resolve(false);
      channel.watchConnectivityState(state, deadlineMs, (error) => (error === undefined ? check() : resolve(false)));
    };
    check();
  });
}
