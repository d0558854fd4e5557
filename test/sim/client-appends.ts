import type { Index, NodeId } from '../../raft/index.js';
import type { AssembledNode } from '../../src/node/node-assembly.js';
import { NotLeaderError } from '../../src/transport/index.js';
import type { AppendState, ClientAppend } from './sim-node.js';
import type { SimProcess, SimWorld } from './sim-scheduler.js';

const CLIENT_TIMEOUT_MS = 3_000;

/** What the appending clients need of the cluster. */
export interface ClientAppendsHost {
  readonly world: SimWorld;
  /** The process the clients' timers run on (never killed). */
  readonly process: SimProcess;
  /** Where a client sends when no node is named: the leader, else some running node; null when none runs. */
  target(): NodeId | null;
  /** Node `id`'s running process, or null while it is down or starting. */
  running(id: NodeId): AssembledNode | null;
}

/**
 * Clients appending raw records through a node's client service, as the gRPC handler calls
 * it, each keeping what it learnt: acknowledged (at an index), failed for sure (refused
 * before proposing: in no log), or unknown (a timeout, an error after proposing, its node
 * died). The end-of-run checks hold the cluster to the acknowledged ones.
 */
export class ClientAppends {
  readonly appends: ClientAppend[] = [];
  private nextId = 1;

  constructor(private readonly host: ClientAppendsHost) {}

  /** Node `id`'s process died: what its pending appends became is unknown. */
  crashed(id: NodeId): void {
    for (const append of this.appends) if (append.node === id && append.state === 'pending') append.state = 'unknown';
  }

  /** A client appends `count` fresh records in one call: they commit together or not at all. */
  appendBatch(count: number, to?: NodeId, payloadBytes = 0): ClientAppend[] {
    const target = to ?? this.host.target();
    if (target === null) return [];
    const node = this.host.running(target);
    if (node === null) return [];
    const batch = Array.from({ length: count }, (): ClientAppend => {
      const id = this.nextId++;
      // The name stays unique whatever the padding: the checks find a record by its bytes.
      const name = `a${id}`;
      return { id, payload: Buffer.from(name.padEnd(payloadBytes, '.'), 'latin1'), node: target, state: 'pending', index: null };
    });
    this.appends.push(...batch);
    const settle = (state: AppendState, firstIndex: Index | null): void => {
      batch.forEach((append, k) => {
        if (append.state !== 'pending') return;
        append.state = state;
        if (firstIndex !== null) append.index = (firstIndex + k) as Index;
      });
    };
    const timeout = this.host.world.schedule(CLIENT_TIMEOUT_MS, this.host.process, `client timeout a${batch[0]?.id ?? 0}`, () => settle('unknown', null));
    node.service.append(
      batch.map((a) => a.payload),
      { timeoutMs: CLIENT_TIMEOUT_MS },
    ).then(
      (outcome) => {
        timeout.cancel();
        settle('acked', outcome.firstIndex as Index);
      },
      (error: unknown) => {
        timeout.cancel();
        settle(definitelyNotWritten(error) ? 'failed' : 'unknown', null);
      },
    );
    return batch;
  }
}

/** A refusal before proposing: the record was never handed to the core, so it is in no log. */
function definitelyNotWritten(error: unknown): boolean {
  return error instanceof NotLeaderError;
}
