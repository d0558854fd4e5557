import * as fs from 'node:fs';

import type { FaultWindow } from '../src/report/index.js';

/**
 * The run's history, in the order things happened (times in ms since the run started):
 * client operations as invoke + one completion (ok / fail / info), what readers saw, and
 * each fault's start and end. Checkers work on this plus the final state read back.
 *
 * ok: the operation took effect (for an append: committed at `index`).
 * fail: it certainly did not take effect (the client's word: nothing was sent to a leader).
 * info: unknown (OutcomeUnknownError, or the run ended first): it may or may not have.
 */
export type OpType = 'invoke' | 'ok' | 'fail' | 'info';

export interface OpEvent {
  readonly type: OpType;
  readonly timeMs: number;
  /** The client process (one sequential producer or reader), e.g. "p3". */
  readonly process: string;
  readonly f: string;
  readonly opId: number;
  /** The value the operation carries (an append's unique payload). */
  readonly value: string;
  /** Where an ok append committed (the log index; for a queue send or ack, the topic offset). */
  readonly index?: number;
  readonly error?: string;
}

/** A record a reader (follow/poll) saw, in the order it saw them. */
export interface ReadEvent {
  readonly type: 'read';
  readonly timeMs: number;
  readonly process: string;
  readonly index: number;
  readonly value: string;
}

/**
 * A reader asked for `fromIndex` and was told (OUT_OF_RANGE) that the node it asked keeps
 * nothing below `toIndex` (compaction deleted it); it went on from `toIndex`. The indexes in
 * between are not a skip the realtime checker flags.
 */
export interface ReadGapEvent {
  readonly type: 'read-gap';
  readonly timeMs: number;
  readonly process: string;
  readonly fromIndex: number;
  readonly toIndex: number;
}

export interface NemesisEvent {
  readonly type: 'nemesis';
  readonly phase: 'start' | 'end';
  readonly timeMs: number;
  /** The nemesis (kill, pause, partition, power, disk). */
  readonly kind: string;
  /** Which shape of it, e.g. "leader", "majority", "bridge". */
  readonly variant: string;
  readonly faultId: number;
  readonly targets: readonly string[];
  readonly detail?: string;
}

/** Something the harness observed about a node (a refused start, a blocked vote), for the checkers. */
export interface ObservationEvent {
  readonly type: 'observe';
  readonly timeMs: number;
  readonly node: string;
  readonly what: string;
  readonly faultId?: number;
  readonly detail?: string;
}

/**
 * A queue consumer's view of one delivery (process "c2.3": consumer slot 2, its third
 * process): `received` when the Consumer handed it over, `processed` once the work is done
 * (recorded before the ack is sent, so a crash between the two leaves a processed message
 * unacked, never the reverse, unless the consumer auto-acks).
 */
export interface ConsumeEvent {
  readonly type: 'consume';
  readonly phase: 'received' | 'processed';
  readonly timeMs: number;
  readonly process: string;
  readonly offset: number;
  readonly value: string;
  /** 1 for the first delivery of this offset to the group. */
  readonly delivery: number;
}

/** A consumer group as one node described it (Admin.describeGroup pinned to that node). */
export interface GroupEvent {
  readonly type: 'group';
  readonly timeMs: number;
  readonly node: string;
  /** Which start of that node answered (its state is rebuilt by replay at each start). */
  readonly incarnation: number;
  readonly group: string;
  readonly committedOffset: number;
  readonly lag: number;
}

/**
 * One step of the membership nemesis (a member change through Admin.members, or what it did
 * to a node's process or data): `ok` it happened (a change committed), `info` it failed and
 * may or may not have taken effect (it is looked up and retried or undone), `fail` it was
 * given up after its attempts.
 */
export interface MemberEvent {
  readonly type: 'member';
  readonly timeMs: number;
  readonly faultId: number;
  readonly action: MemberAction;
  readonly node: string;
  readonly outcome: 'ok' | 'info' | 'fail';
  readonly detail: string;
}

export type MemberAction = 'add' | 'promote' | 'remove' | 'kill' | 'wipe' | 'start';

export type HistoryEvent = OpEvent | ReadEvent | ReadGapEvent | NemesisEvent | ObservationEvent | ConsumeEvent | GroupEvent | MemberEvent;

/** An invoke paired with its completion. */
export interface Op {
  readonly opId: number;
  readonly process: string;
  readonly f: string;
  readonly value: string;
  readonly invokeMs: number;
  readonly completeMs: number;
  readonly outcome: 'ok' | 'fail' | 'info';
  readonly index?: number;
  readonly error?: string;
}

/** A fault's window in the history, as the report's charts draw it. */
export type { FaultWindow } from '../src/report/index.js';

/** A scheduled fault that did not run (the run ended first, or it could not start), and why. */
export interface MissedFault {
  readonly faultId: number;
  readonly kind: string;
  readonly variant: string;
  /** When it was due, ms since the run started. */
  readonly dueMs: number;
  readonly holdMs: number;
  readonly reason: string;
}

/** A bounded, append-only history; past `eventsMax` it refuses (the run then stops its clients). */
export class History {
  readonly #events: HistoryEvent[] = [];
  readonly #startMs: number;
  readonly #clockMs: () => number;
  #opIds = 0;

  /** `clockMs` reads the time (Date.now for a run; a test passes a clock it moves itself). */
  constructor(readonly eventsMax: number, clockMs: () => number = Date.now) {
    this.#clockMs = clockMs;
    this.#startMs = clockMs();
  }

  get full(): boolean {
    return this.#events.length >= this.eventsMax;
  }

  get events(): readonly HistoryEvent[] {
    return this.#events;
  }

  nowMs(): number {
    return this.#clockMs() - this.#startMs;
  }

  nextOpId(): number {
    return ++this.#opIds;
  }

  /** Adds an event stamped now; false when the history is full (nemesis events are always kept). */
  add(event: DistributiveOmit<HistoryEvent, 'timeMs'>): boolean {
    if (this.full && event.type !== 'nemesis' && event.type !== 'observe' && event.type !== 'member') return false;
    this.#events.push({ ...event, timeMs: this.nowMs() } as HistoryEvent);
    return true;
  }

  /** One JSON object per line. */
  writeJsonLines(file: string): void {
    const fd = fs.openSync(file, 'w');
    try {
      const chunk: string[] = [];
      for (const event of this.#events) {
        chunk.push(JSON.stringify(event));
        if (chunk.length >= 5_000) fs.writeSync(fd, `${chunk.splice(0).join('\n')}\n`);
      }
      if (chunk.length > 0) fs.writeSync(fd, `${chunk.join('\n')}\n`);
    } finally {
      fs.closeSync(fd);
    }
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Pairs invokes with completions; an invoke without one (cut off) counts as info at the history's end. */
export function pairOps(events: readonly HistoryEvent[]): Op[] {
  const open = new Map<number, OpEvent>();
  const ops: Op[] = [];
  let lastMs = 0;
  for (const e of events) {
    lastMs = Math.max(lastMs, e.timeMs);
    if (e.type === 'invoke') open.set(e.opId, e);
    else if (e.type === 'ok' || e.type === 'fail' || e.type === 'info') {
      const inv = open.get(e.opId);
      if (inv === undefined) continue;
      open.delete(e.opId);
      ops.push({
        opId: e.opId, process: inv.process, f: inv.f, value: inv.value, invokeMs: inv.timeMs, completeMs: e.timeMs, outcome: e.type,
        ...(e.index === undefined ? {} : { index: e.index }),
        ...(e.error === undefined ? {} : { error: e.error }),
      });
    }
  }
  for (const inv of open.values()) {
    ops.push({ opId: inv.opId, process: inv.process, f: inv.f, value: inv.value, invokeMs: inv.timeMs, completeMs: lastMs, outcome: 'info', error: 'no completion recorded' });
  }
  return ops.sort((a, b) => a.opId - b.opId);
}

/** Each fault's start paired with its end (a fault never ended closes at the history's end). */
export function faultWindows(events: readonly HistoryEvent[]): FaultWindow[] {
  const started = new Map<number, NemesisEvent>();
  const windows: FaultWindow[] = [];
  let lastMs = 0;
  for (const e of events) {
    lastMs = Math.max(lastMs, e.timeMs);
    if (e.type !== 'nemesis') continue;
    if (e.phase === 'start') started.set(e.faultId, e);
    else {
      const s = started.get(e.faultId);
      if (s === undefined) continue;
      started.delete(e.faultId);
      windows.push({ faultId: e.faultId, kind: s.kind, variant: s.variant, targets: s.targets, startMs: s.timeMs, endMs: e.timeMs, detail: [s.detail, e.detail].filter(Boolean).join('; ') });
    }
  }
  for (const s of started.values()) windows.push({ faultId: s.faultId, kind: s.kind, variant: s.variant, targets: s.targets, startMs: s.timeMs, endMs: lastMs, detail: s.detail ?? '' });
  return windows.sort((a, b) => a.startMs - b.startMs);
}
