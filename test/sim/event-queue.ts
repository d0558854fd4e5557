/**
 * A min-heap of timed events: the simulator's single clock. Events at the same virtual time
 * come out in insertion order (the sequence number breaks ties), so a run is a pure function
 * of its seed and schedule.
 */
interface Slot<T> {
  readonly atMs: number;
  readonly seq: number;
  readonly event: T;
}

export class EventQueue<T> {
  private readonly heap: Slot<T>[] = [];
  private seq = 0;
  private nowMs = 0;

  /** Virtual time of the event most recently taken (or 0). */
  get now(): number {
    return this.nowMs;
  }

  get size(): number {
    return this.heap.length;
  }

  /** Schedules `event` `delayMs` after now. Negative delays are a programmer error. */
  push(delayMs: number, event: T): void {
    if (!(delayMs >= 0)) throw new Error(`event-queue: delay must be >= 0, got ${delayMs}`);
    this.heap.push({ atMs: this.nowMs + delayMs, seq: this.seq++, event });
    this.siftUp(this.heap.length - 1);
  }

  /** Time of the next event, or undefined when empty. */
  peekTime(): number | undefined {
    return this.heap[0]?.atMs;
  }

  /** Removes the next event and moves the clock to its time. */
  pop(): T | undefined {
    const top = this.heap[0];
    if (top === undefined) return undefined;
    const last = this.heap.pop() as Slot<T>;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    this.nowMs = top.atMs;
    return top.event;
  }

  /** Moves the clock forward to `atMs` when no event is due before it (idle time passes too). */
  advanceTo(atMs: number): void {
    const next = this.peekTime();
    if (next !== undefined && next < atMs) throw new Error(`event-queue: cannot pass the event due at ${next} on the way to ${atMs}`);
    if (atMs > this.nowMs) this.nowMs = atMs;
  }

  /** Drops every queued event matching `predicate` (e.g. a crashed node's pending fsync). */
  removeWhere(predicate: (event: T) => boolean): void {
    const kept = this.heap.filter((slot) => !predicate(slot.event));
    this.heap.length = 0;
    for (const slot of kept) {
      this.heap.push(slot);
      this.siftUp(this.heap.length - 1);
    }
  }

  private less(a: Slot<T>, b: Slot<T>): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq);
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const a = heap[i] as Slot<T>;
      const b = heap[parent] as Slot<T>;
      if (!this.less(a, b)) break;
      heap[i] = b;
      heap[parent] = a;
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && this.less(heap[left] as Slot<T>, heap[smallest] as Slot<T>)) smallest = left;
      if (right < heap.length && this.less(heap[right] as Slot<T>, heap[smallest] as Slot<T>)) smallest = right;
      if (smallest === i) return;
      const tmp = heap[i] as Slot<T>;
      heap[i] = heap[smallest] as Slot<T>;
      heap[smallest] = tmp;
      i = smallest;
    }
  }
}
