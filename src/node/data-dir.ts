import { randomUUID } from 'node:crypto';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';

import { ErrorCode } from '../../errors/index.js';
import { DirectoryLockedError, type DirectoryLock, type FileSystem } from '../../storage/index.js';
import { ConfigError } from './config.js';
import { replaceFileDurablySync } from './durable-file.js';

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

/** Another live process (most likely this node, started twice) holds the data directory. */
export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
  readonly code = ErrorCode.directoryLocked;
  constructor(
    readonly dir: string,
    readonly holderPid: number | null,
    options?: ErrorOptions,
  ) {
    super(`data directory ${dir} is in use by another process (${holderPid === null ? 'pid unknown' : `pid ${holderPid}`}); is this node already running?`, options);
  }
}

/**
 * Creates `dir` if needed and takes its exclusive lock for this process: the first thing a
 * node does with its data directory, before any file in it is read. A second process on the
 * same directory gets DataDirInUseError and has changed no byte under it.
 */
export function lockDataDir(files: FileSystem, dir: string): DirectoryLock {
  const absolute = path.resolve(dir);
  try {
    files.mkdir(absolute);
    nodeFs.accessSync(absolute, nodeFs.constants.R_OK | nodeFs.constants.W_OK);
  } catch (error) {
    throw new ConfigError(`data directory ${absolute} is not usable: ${describeCause(error)}`, { cause: error });
  }
  try {
    return files.lockDir(absolute);
  } catch (error) {
    if (error instanceof DirectoryLockedError) throw new DataDirInUseError(absolute, error.holderPid, { cause: error });
    throw new ConfigError(`cannot lock data directory ${absolute}: ${describeCause(error)}`, { cause: error });
  }
}

function describeCause(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? error.cause.message : error.message;
}

/**
 * Checks (or, on first use, records) who owns `dir`. The caller holds the directory's lock. Refuses a directory that belongs to
 * another node or cluster, or that cannot be written. The record is written to a temporary
 * file, fsynced, renamed and the directory fsynced, so it is whole or absent after a crash.
 */
export function claimDataDir(dir: string, clusterId: string, nodeId: string): DataDirIdentity {
  try {
    nodeFs.mkdirSync(dir, { recursive: true });
    nodeFs.accessSync(dir, nodeFs.constants.R_OK | nodeFs.constants.W_OK);
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
  replaceFileDurablySync(file, `${JSON.stringify(identity, null, 2)}\n`);
  return identity;
}

function readIdentity(file: string): DataDirIdentity | null {
  let text: string;
  try {
    text = nodeFs.readFileSync(file, 'utf8');
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
