import type { MemberAnswer } from './cluster-view.js';
import { STATUS_VERSION, type NodeView } from './node-view.js';

/** Bytes of a member's /node.json read at most (a view with full history is some tens of KB). */
const VIEW_BYTES_MAX = 1024 * 1024;

/** A member to read, and its HTTP address (null: not known, shown as unreachable). */
export interface MemberAddress {
  readonly id: string;
  readonly httpAddress: string | null;
}

export interface MemberViewsOptions {
  /** How long one member may take to answer; past it, the member is unreachable this time. */
  readonly timeoutMs: number;
  /** Answers younger than this are reused: many open pages cost the members one read. */
  readonly reuseMs: number;
  readonly nowMs: () => number;
}

/**
 * Reads the other members' own views (GET /node.json) for the status page. Reads are
 * shared: while one is in flight, or for `reuseMs` after it, every caller gets its answers.
 * A member that does not answer, answers badly or answers as another node is reported with
 * the reason, never left out.
 */
export class MemberViews {
  private last: { readonly atMs: number; readonly answers: Promise<readonly MemberAnswer[]> } | null = null;

  constructor(private readonly options: MemberViewsOptions) {}

  /** The views of `members` (the other members now); a read younger than reuseMs is shared. */
  read(members: readonly MemberAddress[]): Promise<readonly MemberAnswer[]> {
    const nowMs = this.options.nowMs();
    if (this.last !== null && nowMs - this.last.atMs < this.options.reuseMs) return this.last.answers;
    const answers = Promise.all(members.map((m) => this.readOne(m.id, m.httpAddress)));
    this.last = { atMs: nowMs, answers };
    return answers;
  }

  private async readOne(id: string, httpAddress: string | null): Promise<MemberAnswer> {
    if (httpAddress === null) return { id, httpAddress, error: 'its HTTP address is not known here (see --http-members)' };
    try {
      const response = await fetch(`http://${httpAddress}/node.json`, { signal: AbortSignal.timeout(this.options.timeoutMs), headers: { accept: 'application/json' } });
      const text = await response.text();
      if (response.status !== 200) return { id, httpAddress, error: `answered HTTP ${response.status}` };
      if (text.length > VIEW_BYTES_MAX) return { id, httpAddress, error: `answered ${text.length} bytes, more than ${VIEW_BYTES_MAX}` };
      const view = parseView(text);
      if (view === null) return { id, httpAddress, error: 'answered something that is not a node view of this version' };
      if (view.id !== id) return { id, httpAddress, error: `answered as ${view.id}` };
      return { id, httpAddress, view };
    } catch (error) {
      return { id, httpAddress, error: `no answer from ${httpAddress}: ${describe(error)}` };
    }
  }
}

/** The view in `text`, or null when it is not one of this version (the fields drawn are checked; the rest is trusted to the version). */
export function parseView(text: string): NodeView | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (parsed === null || typeof parsed !== 'object') return null;
  const v = parsed as Partial<Record<keyof NodeView, unknown>>;
  if (v.version !== STATUS_VERSION || typeof v.id !== 'string' || typeof v.role !== 'string' || typeof v.term !== 'number') return null;
  if (typeof v.commitIndex !== 'number' || typeof v.lastIndex !== 'number' || typeof v.history !== 'object' || v.history === null) return null;
  return parsed as NodeView;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError') return 'timed out';
  const cause = error.cause instanceof Error ? error.cause.message : null;
  return cause === null ? error.message : `${error.message} (${cause})`;
}
