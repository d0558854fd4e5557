import type { HardState, Index, NodeId, Term } from '../../raft/types.js';
import type { MemoryFileSystem } from '../../storage/index.js';
import { decodeRecord } from '../../storage/record-codec.js';
import { parseSegmentFileName } from '../../storage/segment.js';
import { decodeStateSlot, STATE_FILE_NAME, type PersistedState } from '../../storage/state-file.js';

/** Where the state file keeps its two slots (storage/state-file.ts). */
const STATE_SLOT_OFFSETS = [0, 4096] as const;
const STATE_SLOT_BYTES = 256;
/** No record in the simulator comes near this; decoding must not refuse a real one. */
const PAYLOAD_BYTES_MAX = 1 << 30;

/** One segment file's synced image, decoded from its start up to the first invalid record. */
interface DecodedSegment {
  image: Uint8Array;
  /** Byte offset just past the last valid record. */
  end: number;
  /** Terms of the valid records, consecutive indexes from the segment's first. */
  readonly terms: number[];
}

/**
 * What one node's disk holds durably, read straight from its MemoryFileSystem's synced
 * contents (what a crash now would leave, untorn), independently of anything the node's
 * process believes: the checker's way to hold "durable" promises to the disk.
 *
 * The log is read as recovery would keep it: segments in order of their first index, each
 * up to its first invalid record, ending at the first gap. Decoding is incremental: a file
 * whose new synced image extends the old one is decoded from where the old one ended.
 */
export class DurableView {
  private readonly segments = new Map<string, DecodedSegment>();

  constructor(
    private readonly fs: () => MemoryFileSystem,
    private readonly dir: string,
  ) {}

  /** The hard state a restart would read (the initial one if the file is not durable yet). */
  hardState(): HardState {
    return this.state()?.hardState ?? { term: 0 as Term, vote: null as NodeId | null, commit: 0 as Index };
  }

  /** The compaction point a restart would read: entries through it are covered by a snapshot. */
  compacted(): { readonly index: Index; readonly term: Term } {
    return this.state()?.compacted ?? { index: 0 as Index, term: 0 as Term };
  }

  private state(): PersistedState | null {
    const image = this.fs().durableFiles(this.dir).get(STATE_FILE_NAME);
    let best: { state: PersistedState; sequence: number } | null = null;
    for (const at of STATE_SLOT_OFFSETS) {
      if (image === undefined || image.length < at + STATE_SLOT_BYTES) continue;
      const slot = decodeStateSlot(image.subarray(at, at + STATE_SLOT_BYTES));
      if (slot !== null && (best === null || slot.sequence > best.sequence)) best = { state: slot.state, sequence: slot.sequence };
    }
    return best?.state ?? null;
  }

  /**
   * The term of the entry at `at` in the durable log (at the compaction point, the point's
   * term), or undefined if it holds none there.
   */
  term(at: Index): Term | undefined {
    const compacted = this.compacted();
    if (at === compacted.index && at > 0) return compacted.term;
    if (at < compacted.index) return undefined;
    const files = this.fs().durableFiles(this.dir);
    const ordered: { first: number; name: string; image: Uint8Array }[] = [];
    for (const [name, image] of files) {
      const first = parseSegmentFileName(name);
      if (first !== null) ordered.push({ first, name, image });
    }
    ordered.sort((a, b) => a.first - b.first);
    let expected: number | null = null;
    // Bounded by the segment count; stops at the first gap, as the log does.
    for (const { first, name, image } of ordered) {
      const terms = this.decode(name, image, first);
      // Wholly at or below the compaction point: recovery removes it (a crash mid-compaction left it).
      if (first + terms.length - 1 <= compacted.index) continue;
      if (expected !== null && first !== expected) return undefined;
      if (at >= first && at < first + terms.length) return terms[at - first] as Term;
      expected = first + terms.length;
    }
    return undefined;
  }

  private decode(name: string, image: Uint8Array, first: number): readonly number[] {
    let known = this.segments.get(name);
    if (known !== undefined && known.image === image) return known.terms;
    const grows = known !== undefined && image.length >= known.end && Buffer.compare(image.subarray(0, known.end), known.image.subarray(0, known.end)) === 0;
    if (known === undefined || !grows) {
      known = { image, end: 0, terms: [] };
      this.segments.set(name, known);
    }
    known.image = image;
    // Bounded by the image's length: each pass consumes one record or stops.
    for (;;) {
      const record = decodeRecord(image, known.end, PAYLOAD_BYTES_MAX);
      if (!record.ok || record.entry.index !== first + known.terms.length) break;
      known.terms.push(record.entry.term);
      known.end += record.bytes;
    }
    return known.terms;
  }
}
