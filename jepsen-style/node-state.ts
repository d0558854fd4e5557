import type { ProcessExit } from '../src/process/index.js';

export type NodeState = 'running' | 'paused' | 'down';

/** How a start went: serving clients, or exited first (with its last lines). */
export type StartOutcome = { readonly ok: true } | { readonly ok: false; readonly exit: ProcessExit | null; readonly reason: string; readonly lastLines: readonly string[] };
