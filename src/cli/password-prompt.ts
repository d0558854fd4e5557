import { UsageError } from './usage-error.js';

/** Longest password typed at a prompt (a bound on the loop; scrypt takes any length). */
const TYPED_CHARS_MAX = 1024;

/**
 * Reads one line from the terminal without echoing it (raw mode: each key arrives as typed,
 * nothing is printed). Enter ends it, backspace erases, Ctrl-C or Ctrl-D cancels with a
 * UsageError. Needs stdin to be a terminal.
 */
export function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) return Promise.reject(new UsageError('cannot prompt for a password: stdin is not a terminal'));
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (outcome: () => void): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      outcome();
    };
    const onData = (chunk: string): void => {
      for (const key of chunk) {
        if (key === '\r' || key === '\n') return finish(() => resolve(typed));
        if (key === '\u0003' || key === '\u0004') return finish(() => reject(new UsageError('cancelled: no password given')));
        if (key === '\u007f' || key === '\b') typed = typed.slice(0, -1);
        else if (typed.length < TYPED_CHARS_MAX) typed += key;
      }
    };
    stdin.on('data', onData);
  });
}
