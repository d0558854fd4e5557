/**
 * The broker snapshot is encoded by generators that yield every few items, so that an
 * encoder can stop between two yields and go on in a later turn of the event loop: a
 * state of a million deliveries is then written in many short slices instead of one
 * pause. The bytes are the same however the slices fall.
 */

/** Items (deliveries, offset runs, producers, ...) encoded between two yields, by default. */
export const SNAPSHOT_STEP_ITEMS = 256;

/** Encodes a part of the snapshot into the writer it was given, yielding between steps. */
export type EncodeSteps = Generator<void, void, void>;

/**
 * Counts encoded items across all parts of one snapshot: due() is true once per
 * `stepItems` items, when the caller yields. One counter per encoding, so a part of a few
 * items does not cost a yield of its own.
 */
export class StepCounter {
  private items = 0;

  constructor(private readonly stepItems: number) {
    if (!(Number.isSafeInteger(stepItems) && stepItems >= 1)) throw new RangeError(`a snapshot step is 1 item or more, not ${stepItems}`);
  }

  /** One more item encoded; true when a step is complete (the caller then yields). */
  due(): boolean {
    this.items++;
    if (this.items < this.stepItems) return false;
    this.items = 0;
    return true;
  }
}
