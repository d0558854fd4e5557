import type { Entry, Index, LogReader, Term } from '../../raft/types.js';

/**
 * An in-memory log: the LogReader the scripted tests hand to a core (DirectNode), and the
 * scripted disks a NodeCluster writes before its nodes first start.
 *
 * Invariant: entries[k].index === firstIndex + k; compactedTerm is the term at firstIndex - 1
 * (0 when nothing was ever compacted).
 */
export class MemoryLog implements LogReader {
  private entriesHeld: Entry[] = [];

  constructor(
    private first: Index = 1 as Index,
    private compactedTerm: Term = 0 as Term,
  ) {
    if (first < 1) throw new Error(`memory-log: firstIndex must be >= 1, got ${first}`);
  }

  static of(entries: readonly Entry[], options: { firstIndex?: Index; compactedTerm?: Term } = {}): MemoryLog {
    const log = new MemoryLog(options.firstIndex ?? (1 as Index), options.compactedTerm ?? (0 as Term));
    log.append(entries);
    return log;
  }

  firstIndex(): Index {
    return this.first;
  }

  lastIndex(): Index {
    return (this.first + this.entriesHeld.length - 1) as Index;
  }

  term(at: Index): Term | undefined {
    if (at === this.first - 1) return this.compactedTerm;
    return this.entriesHeld[at - this.first]?.term;
  }

  entry(at: Index): Entry | undefined {
    return this.entriesHeld[at - this.first];
  }

  entries(from: Index, toExclusive: Index, bytesMax: number): readonly Entry[] {
    if (from < this.first || toExclusive > this.lastIndex() + 1 || from > toExclusive) {
      throw new Error(`memory-log: entries [${from}, ${toExclusive}) outside [${this.first}, ${this.lastIndex() + 1})`);
    }
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = from; i < toExclusive; i++) {
      const e = this.entriesHeld[i - this.first] as Entry;
      bytes += e.payload.length;
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(e);
    }
    return out;
  }

  /** Drops every entry through `at` (a snapshot covers them); `at` must be held. */
  compactThrough(at: Index): void {
    const t = this.term(at);
    if (t === undefined || at < this.first) throw new Error(`memory-log: cannot compact through ${at}, held ${this.first - 1}..${this.lastIndex()}`);
    this.entriesHeld = this.entriesHeld.slice(at + 1 - this.first);
    this.first = (at + 1) as Index;
    this.compactedTerm = t;
  }

  /** Discards every entry: the log continues after (at, t), a snapshot's point. */
  resetTo(at: Index, t: Term): void {
    this.entriesHeld = [];
    this.first = (at + 1) as Index;
    this.compactedTerm = t;
  }

  /** Every entry held, oldest first. */
  all(): readonly Entry[] {
    return this.entriesHeld;
  }

  /**
   * Appends `batch`, first truncating any held suffix from batch[0].index (Ready step 2).
   * The batch must be contiguous and must not leave a gap after lastIndex.
   */
  append(batch: readonly Entry[]): void {
    const head = batch[0];
    if (head === undefined) return;
    if (head.index < this.first || head.index > this.lastIndex() + 1) {
      throw new Error(`memory-log: append at ${head.index} outside [${this.first}, ${this.lastIndex() + 1}]`);
    }
    this.entriesHeld.length = head.index - this.first;
    for (const e of batch) {
      if (e.index !== this.lastIndex() + 1) throw new Error(`memory-log: batch not contiguous at ${e.index}`);
      this.entriesHeld.push(e);
    }
  }
}
