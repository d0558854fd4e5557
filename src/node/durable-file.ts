import * as nodeFs from 'node:fs';
import * as path from 'node:path';

/**
 * Replaces `file` with `text` so that after a crash it holds the old text or the new, whole:
 * the text goes to `file`.tmp, which is fsynced, renamed over `file`, and the directory
 * fsynced so the rename itself survives. For the node's small records outside the log (the
 * data directory's identity, the peers' incarnations), written a few times in a node's life.
 */
export function replaceFileDurablySync(file: string, text: string): void {
  const temporary = `${file}.tmp`;
  const fd = nodeFs.openSync(temporary, 'w');
  try {
    nodeFs.writeSync(fd, text);
    nodeFs.fsyncSync(fd);
  } finally {
    nodeFs.closeSync(fd);
  }
  nodeFs.renameSync(temporary, file);
  const dirFd = nodeFs.openSync(path.dirname(file), 'r');
  try {
    nodeFs.fsyncSync(dirFd);
  } finally {
    nodeFs.closeSync(dirFd);
  }
}
