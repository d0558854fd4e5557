import * as path from 'node:path';

import { NodeProcess, OutputLog, sleep } from '../src/process/index.js';
import type { ConsumerLine, ConsumerProcessConfig } from './consumer-process.js';
import type { History } from './history.js';
import type { Prng } from './prng.js';

export interface ConsumerPoolOptions {
  readonly slots: number;
  /** The process config shared by every consumer (its id is made per slot). */
  readonly consumer: Omit<ConsumerProcessConfig, 'consumerId'>;
  /** dist/jepsen-style/consumer-process.js */
  readonly scriptPath: string;
  readonly runDir: string;
  readonly history: History;
  readonly log: (line: string) => void;
}

/** Consumer kills get fault ids from here up, apart from the nemesis schedule's. */
const CONSUMER_FAULT_ID_BASE = 100_000;
const READY_TIMEOUT_MS = 20_000;
const RESTART_DELAY_MS = 500;
const STOP_GRACE_MS = 10_000;
/** How long a killed consumer stays down, and the gap between kills, ms. */
const KILL_HOLD_MS: readonly [number, number] = [200, 2_000];
const KILL_GAP_MS: readonly [number, number] = [2_000, 6_000];
const STARTS_PER_SLOT_MAX = 10_000;

interface Slot {
  readonly name: string;
  process: NodeProcess | null;
  starts: number;
  /** A kill -9 the pool made: restart not before `untilMs`, then close the fault. */
  fault: { readonly faultId: number; readonly untilMs: number } | null;
}

/**
 * Consumer processes of one group, each in a slot ("c1", "c2", ...) that restarts its
 * consumer whenever it exits (process names "c1.1", "c1.2", ... per start). What they print
 * becomes history: received/processed events and acks as invoke + ok/fail/info. The pool
 * can kill -9 consumers on a seeded schedule; each kill is a fault in the history
 * (kind "consumer", variant "kill") like the nemeses' faults.
 */
export class ConsumerPool {
  readonly #slots: Slot[];
  readonly #supervisors: Promise<void>[] = [];
  #stopping = false;
  #kills = 0;

  constructor(private readonly options: ConsumerPoolOptions) {
    this.#slots = Array.from({ length: options.slots }, (_, k) => ({ name: `c${k + 1}`, process: null, starts: 0, fault: null }));
  }

  /** Starts every slot's consumer; resolves once each has printed that it started. */
  async start(): Promise<void> {
    const ready = this.#slots.map((slot) => new Promise<void>((resolve) => this.#supervisors.push(this.#supervise(slot, resolve))));
    await Promise.all(ready);
  }

  /** kill -9 a random consumer every few seconds until `signal` aborts; each one is restarted after its hold. */
  async killUntil(signal: AbortSignal, random: Prng): Promise<void> {
    for (let k = 0; k < STARTS_PER_SLOT_MAX && !signal.aborted; k++) {
      await sleep(random.between(KILL_GAP_MS[0], KILL_GAP_MS[1]), signal);
      if (signal.aborted) return;
      const slot = random.pick(this.#slots);
      const proc = slot.process;
      if (proc === null || !proc.running || slot.fault !== null) continue;
      const faultId = CONSUMER_FAULT_ID_BASE + ++this.#kills;
      const holdMs = random.between(KILL_HOLD_MS[0], KILL_HOLD_MS[1]);
      slot.fault = { faultId, untilMs: Date.now() + holdMs };
      const name = `${slot.name}.${slot.starts}`;
      this.options.history.add({ type: 'nemesis', phase: 'start', kind: 'consumer', variant: 'kill', faultId, targets: [name], detail: `kill -9 consumer ${name}, restart after ${holdMs} ms` });
      this.options.log(`consumer fault ${faultId}: kill -9 ${name} for ${holdMs} ms`);
      await proc.kill();
    }
  }

  /** SIGTERM every consumer (a graceful close: acks in flight answered, holdings released) and waits for the slots to end. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#slots.map((slot) => slot.process?.stop(STOP_GRACE_MS).catch(() => slot.process?.kill())));
    await Promise.all(this.#supervisors);
  }

  async #supervise(slot: Slot, ready: () => void): Promise<void> {
    for (; slot.starts < STARTS_PER_SLOT_MAX && !this.#stopping; ) {
      const proc = this.#spawn(slot);
      try {
        await proc.waitForLine('"t":"started"', READY_TIMEOUT_MS);
      } catch (error) {
        this.options.log(`consumer ${slot.name}.${slot.starts} did not start: ${(error as Error).message}`);
      }
      if (slot.fault !== null) this.#endFault(slot, `restarted as ${slot.name}.${slot.starts}`);
      ready();
      const exit = await proc.exited;
      if (this.#stopping) return;
      if (slot.fault === null) {
        this.options.history.add({ type: 'observe', node: `${slot.name}.${slot.starts}`, what: 'consumer-exited', detail: `code ${exit.code} signal ${exit.signal}` });
        await sleep(RESTART_DELAY_MS);
      } else {
        await sleep(slot.fault.untilMs - Date.now());
      }
    }
  }

  #endFault(slot: Slot, detail: string): void {
    const fault = slot.fault;
    if (fault === null) return;
    slot.fault = null;
    this.options.history.add({ type: 'nemesis', phase: 'end', kind: 'consumer', variant: 'kill', faultId: fault.faultId, targets: [slot.name], detail });
  }

  #spawn(slot: Slot): NodeProcess {
    slot.starts++;
    const name = `${slot.name}.${slot.starts}`;
    const config: ConsumerProcessConfig = { ...this.options.consumer, consumerId: `jepsen-${name}` };
    const output = new OutputLog(slot.name, path.join(this.options.runDir, 'logs', `${slot.name}.log`));
    const proc = NodeProcess.spawn({ args: [this.options.scriptPath, JSON.stringify(config)], output, runTag: `.${slot.starts}`, cwd: this.options.runDir });
    slot.process = proc;
    const acks = new Map<string, number>();
    proc.onLine((line) => this.#record(name, line, acks));
    return proc;
  }

  /** One printed line into the history; `acks` maps offset/delivery to the open ack op of this process. */
  #record(process: string, line: string, acks: Map<string, number>): void {
    if (!line.startsWith('{')) return;
    let parsed: ConsumerLine;
    try {
      parsed = JSON.parse(line) as ConsumerLine;
    } catch {
      return;
    }
    const { history } = this.options;
    switch (parsed.t) {
      case 'received':
      case 'processed': {
        history.add({ type: 'consume', phase: parsed.t, process, offset: parsed.o, value: parsed.v, delivery: parsed.d });
        if (parsed.t === 'processed' && !this.options.consumer.autoAck) {
          const opId = history.nextOpId();
          acks.set(`${parsed.o}/${parsed.d}`, opId);
          history.add({ type: 'invoke', process, f: 'ack', opId, value: parsed.v, index: parsed.o });
        }
        return;
      }
      case 'acked':
      case 'ack-failed': {
        const key = `${parsed.o}/${parsed.d}`;
        const opId = acks.get(key);
        if (opId === undefined) return;
        acks.delete(key);
        // 'notDelivered' for a message this consumer was handed is a refusal the checker flags.
        const refused = parsed.t === 'acked' ? parsed.r === 'notDelivered' : !parsed.unknown;
        const type = parsed.t === 'acked' ? (refused ? 'fail' : 'ok') : refused ? 'fail' : 'info';
        history.add({ type, process, f: 'ack', opId, value: '', index: parsed.o, ...(parsed.t === 'acked' ? (parsed.r === 'acked' ? {} : { error: parsed.r }) : { error: parsed.e }) });
        return;
      }
      case 'error':
        history.add({ type: 'observe', node: process, what: 'consumer-error', detail: parsed.e });
        return;
      default:
        return;
    }
  }
}
