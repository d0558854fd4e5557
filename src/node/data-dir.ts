import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { ConfigError } from './config.js';

/** Names the owner of a data directory, so a node never starts on another node's data. */
export interface DataDirIdentity {
  readonly clusterId: string;
  readonly nodeId: string;
  /** Made once, when the directory is first used; shows up in logs to tell directories apart. */
  readonly incarnation: string;
  /** How entries' payloads are laid out (see src/node/state-machine.ts); a node reads only its own. */
  readonly format: number;
}

/**
 * The layout of entry payloads this build writes: 1 = a one-byte tag (plain record or broker
 * command) before the content. A directory in another layout is refused, never misread.
 */
export const DATA_FORMAT = 1;

const IDENTITY_FILE = 'identity.json';

/**
 * Checks (or, on first use, records) who owns `dir`. Refuses a directory that belongs to
 * another node or cluster, or that cannot be written. The record is written to a temporary
 * file, fsynced, renamed and the directory fsynced, so it is whole or absent after a crash.
 */
export function claimDataDir(dir: string, clusterId: string, nodeId: string): DataDirIdentity {
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.accessSync(dir, fs.constants.R_OK | fs.constants.W_OK);
  } catch (error) {
    throw new ConfigError(`data directory ${dir} is not usable: ${(error as Error).message}`, { cause: error });
  }
  const file = path.join(dir, IDENTITY_FILE);
  const existing = readIdentity(file);
  if (existing !== null) {
    if (existing.format !== DATA_FORMAT) {
      throw new ConfigError(`data directory ${dir} holds log format ${existing.format}; this build reads format ${DATA_FORMAT}. Move it away or use a matching build`);
    }
    if (existing.clusterId !== clusterId || existing.nodeId !== nodeId) {
      throw new ConfigError(
        `data directory ${dir} belongs to node ${existing.nodeId} of cluster ${existing.clusterId}, not node ${nodeId} of cluster ${clusterId}`,
      );
    }
    return existing;
  }
  const identity: DataDirIdentity = { clusterId, nodeId, incarnation: randomUUID(), format: DATA_FORMAT };
  const temporary = `${file}.tmp`;
  const fd = fs.openSync(temporary, 'w');
  try {
    fs.writeSync(fd, `${JSON.stringify(identity, null, 2)}\n`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temporary, file);
  const dirFd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
  return identity;
}

function readIdentity(file: string): DataDirIdentity | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ConfigError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const parsed = JSON.parse(text) as Partial<DataDirIdentity>;
    if (typeof parsed.clusterId === 'string' && typeof parsed.nodeId === 'string' && typeof parsed.incarnation === 'string') {
      // Directories made before the format was recorded hold untagged payloads: format 0.
      const format = typeof parsed.format === 'number' ? parsed.format : 0;
      return { clusterId: parsed.clusterId, nodeId: parsed.nodeId, incarnation: parsed.incarnation, format };
    }
  } catch {
    // fall through
  }
  throw new ConfigError(`${file} is not a quorumlog identity record; move it away if this directory is not a node's`);
}
