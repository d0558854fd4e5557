import { vi } from 'vitest';

import { failureOf, runCommand } from '../../src/cli/run-command.js';

export interface InProcessResult {
  /** The exit status the binary would end with: runCommand's status, or failureOf's code. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `quorumlog ARGS...` in this process, through the binary's own runCommand and failureOf
 * (src/cli/main.ts is those two and process.exitCode), with this process's stdout and stderr
 * captured. For command lines refused before anything starts (a usage error is exit 2 and one
 * line): a node process costs 0.3-0.5 s of CPU to start, this a few milliseconds. The binary's
 * own exit status and line are checked by the few process cases in
 * test/integration/bad-input.test.ts. Not for commands that start servers or processes.
 */
export async function runCliInProcess(args: readonly string[]): Promise<InProcessResult> {
  let stdout = '';
  let stderr = '';
  const capture = (append: (text: string) => void) => ((chunk: string | Uint8Array): boolean => {
    append(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    return true;
  }) as typeof process.stdout.write;
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture((text) => (stdout += text)));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture((text) => (stderr += text)));
  try {
    const code = await runCommand(args).then(
      (status) => status,
      (error: unknown) => {
        const failure = failureOf(error);
        stderr += failure.line;
        return failure.code;
      },
    );
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
