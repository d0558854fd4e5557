import * as net from 'node:net';

/**
 * pass: bytes flow both ways.
 * cut: every open connection is destroyed and new ones are accepted but black-holed (no
 *   byte flows, like a dropped route) until the link is healed; then they are destroyed too,
 *   so the dialling node redials at once instead of waiting out its connect timeout.
 * delay: every chunk is held `delayMs` (plus up to `jitterMs`) before it is forwarded, in order.
 * slow: forwarding is throttled to `bytesPerSecond` each way.
 */
export type LinkMode =
  | { readonly kind: 'pass' }
  | { readonly kind: 'cut' }
  | { readonly kind: 'delay'; readonly delayMs: number; readonly jitterMs: number }
  | { readonly kind: 'slow'; readonly bytesPerSecond: number };

/** Bytes queued in one direction of one connection before its source is paused. */
const QUEUED_BYTES_MAX = 4 * 1024 * 1024;
const CONNECTIONS_MAX = 64;

interface Pipe {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  /** Set while the pipe is black-holed (opened during a cut). */
  held: boolean;
}

/**
 * One directed peer link (n_i dials n_j) on loopback: n_i is started with `--dial
 * n_j=127.0.0.1:<listenPort>` and this proxy forwards to n_j's peer port. Raft traffic
 * from n_i to n_j rides connections n_i opens, so cutting this proxy silences exactly
 * the direction n_i -> n_j (n_j's own messages to n_i go through the proxy n_j -> n_i).
 */
export class LinkProxy {
  readonly #server: net.Server;
  readonly #pipes = new Set<Pipe>();
  #mode: LinkMode = { kind: 'pass' };
  #closed = false;

  private constructor(
    readonly from: string,
    readonly to: string,
    readonly listenPort: number,
    readonly targetPort: number,
    server: net.Server,
  ) {
    this.#server = server;
    server.on('connection', (socket) => this.#accept(socket));
  }

  static async start(options: { readonly from: string; readonly to: string; readonly listenPort: number; readonly targetPort: number }): Promise<LinkProxy> {
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: options.listenPort, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new LinkProxy(options.from, options.to, options.listenPort, options.targetPort, server);
  }

  get mode(): LinkMode {
    return this.#mode;
  }

  get label(): string {
    return `${this.from}->${this.to}`;
  }

  setMode(mode: LinkMode): void {
    const wasCut = this.#mode.kind === 'cut';
    this.#mode = mode;
    if (mode.kind === 'cut' || wasCut) {
      // Entering a cut drops what is open; leaving one drops the black-holed connections.
      for (const pipe of [...this.#pipes]) this.#drop(pipe);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const pipe of [...this.#pipes]) this.#drop(pipe);
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    if (this.#closed || this.#pipes.size >= CONNECTIONS_MAX) {
      client.destroy();
      return;
    }
    client.setNoDelay(true);
    if (this.#mode.kind === 'cut') {
      // Accepted (the dialler sees a connection) but nothing flows: a black hole.
      const pipe: Pipe = { client, upstream: new net.Socket(), held: true };
      this.#pipes.add(pipe);
      client.on('error', () => this.#drop(pipe));
      client.on('close', () => this.#drop(pipe));
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: this.targetPort });
    upstream.setNoDelay(true);
    const pipe: Pipe = { client, upstream, held: false };
    this.#pipes.add(pipe);
    for (const socket of [client, upstream]) {
      socket.on('error', () => this.#drop(pipe));
      socket.on('close', () => this.#drop(pipe));
    }
    upstream.once('connect', () => {
      this.#forward(client, upstream);
      this.#forward(upstream, client);
      client.resume();
    });
  }

  /** Copies source to sink under the current mode, pausing the source while too much is queued. */
  #forward(source: net.Socket, sink: net.Socket): void {
    let queuedBytes = 0;
    /** When the previous chunk is due out, so delayed chunks keep their order. */
    let lastDueMs = 0;
    /** Throttle: when the sink may take the next byte. */
    let nextFreeMs = 0;
    source.on('data', (chunk: Buffer) => {
      const mode = this.#mode;
      if (mode.kind === 'cut') return;
      if (mode.kind === 'pass' && queuedBytes === 0) {
        if (!sink.write(chunk)) {
          source.pause();
          sink.once('drain', () => source.resume());
        }
        return;
      }
      const nowMs = Date.now();
      let dueMs: number;
      if (mode.kind === 'delay') {
        dueMs = Math.max(nowMs + mode.delayMs + Math.floor(Math.random() * (mode.jitterMs + 1)), lastDueMs);
      } else if (mode.kind === 'slow') {
        nextFreeMs = Math.max(nextFreeMs, nowMs) + (chunk.length * 1000) / mode.bytesPerSecond;
        dueMs = Math.max(nextFreeMs, lastDueMs);
      } else {
        dueMs = Math.max(nowMs, lastDueMs);
      }
      lastDueMs = dueMs;
      queuedBytes += chunk.length;
      if (queuedBytes > QUEUED_BYTES_MAX) source.pause();
      setTimeout(() => {
        queuedBytes -= chunk.length;
        if (!sink.destroyed && this.#mode.kind !== 'cut') sink.write(chunk);
        if (queuedBytes <= QUEUED_BYTES_MAX / 2 && source.isPaused()) source.resume();
      }, Math.max(0, dueMs - nowMs));
    });
  }

  #drop(pipe: Pipe): void {
    if (!this.#pipes.delete(pipe)) return;
    pipe.client.destroy();
    pipe.upstream.destroy();
  }
}
