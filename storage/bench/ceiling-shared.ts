/** A mark slot as the state file writes one (storage/state-file.ts): 256 bytes, two slots on separate pages. */
export const MARK_BYTES = 256;
export const MARK_SLOT_STRIDE = 4096;

/** Where each value lives in the Int32Array the ceiling's main thread shares with its worker. */
export const CEILING_WORD = { state: 0, dataFd: 1, markFd: 2, slot: 3 } as const;
export const CEILING_WORDS = 4;

/** The values of CEILING_WORD.state: the worker waits while idle, works while posted, ends at stop. */
export const CEILING_STATE = { idle: 0, posted: 1, stop: 2 } as const;
