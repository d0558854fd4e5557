/** A mark slot as the state file writes one (storage/state-file.ts): 256 bytes, two slots on separate pages. */
export const MARK_BYTES = 256;
export const MARK_SLOT_STRIDE = 4096;

/** The shared words between the ceiling's main thread and its worker: where each lives, and the states. */
export const CEILING_JOB = {
  state: 0,
  dataFd: 1,
  markFd: 2,
  slot: 3,
  words: 4,
  idle: 0,
  posted: 1,
  stop: 2,
} as const;
