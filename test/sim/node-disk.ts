import type { HardState, Index, LogReader } from '../../raft/index.js';
import { openLog, type MemoryFileSystem } from '../../storage/index.js';
import type { Prng } from './prng.js';

/** Writes a scripted disk (a log from index 1 and a hard state) the way a node would have. */
export async function writeInitialDisk(fs: MemoryFileSystem, dataDir: string, initial: { readonly log?: LogReader; readonly hardState?: HardState }): Promise<void> {
  const log = await openLog({ dir: `${dataDir}/log`, fs });
  const source = initial.log;
  if (source !== undefined && source.lastIndex() >= 1) {
    if (source.firstIndex() !== 1) throw new Error('node-cluster: an initial log must start at index 1');
    await log.append(source.entries(1 as Index, (source.lastIndex() + 1) as Index, Number.MAX_SAFE_INTEGER));
  }
  if (initial.hardState !== undefined) await log.saveHardState(initial.hardState);
  await log.close();
}

/**
 * Damages the records of the last segment under `dir` durably, as a disk might: its last
 * `lose` x 16 bytes of records are cut, or (odd `lose`) one bit among them flips. False when
 * there was nothing to damage.
 */
export function damageLastSegment(fs: MemoryFileSystem, dir: string, lose: number, random: Prng): boolean {
  const last = fs.list(dir).filter((name) => name.endsWith('.log')).sort().at(-1);
  if (last === undefined) return false;
  const file = `${dir}/${last}`;
  // Damage the records, not the zeros a segment preallocates after them.
  const dataEnd = recordsEnd(fs.readFile(file));
  const span = Math.min(dataEnd, lose * 16);
  if (span === 0) return false;
  if (lose % 2 === 1) fs.flipBit(file, dataEnd - 1 - random.nextInt(span), random.nextInt(8));
  else fs.faultTruncate(file, dataEnd - span);
  return true;
}

/**
 * Where a segment's records end: after its last non-zero byte, since a segment zero-fills
 * ahead of its writes. A record that itself ends in zeros ends a little later, which only
 * makes damage start inside it.
 */
function recordsEnd(data: Uint8Array): number {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0) end--;
  return end;
}
