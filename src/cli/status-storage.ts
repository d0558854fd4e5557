import type { BrokerStatus, NodeStatus } from '../client/index.js';

/** The header of `quorumlog status`'s storage table. */
export const STORAGE_HEADER: readonly string[] = ['node', 'first', 'snapshot', 'snapshot age', 'log', 'snapshots', 'disk used', 'disk free', 'produce'];

/**
 * One row per node that answered: the first index its log still holds, its newest snapshot
 * and how old it is, the bytes of its log and snapshot files, its data directory's disk, and
 * whether its disk guard refuses new messages.
 */
export function storageRows(statuses: readonly BrokerStatus[]): string[][] {
  const rows: string[][] = [];
  for (const s of statuses) {
    if ('error' in s) continue;
    rows.push([
      s.id,
      String(s.firstIndex),
      s.snapshotIndex === 0 ? '-' : String(s.snapshotIndex),
      s.snapshotAgeSeconds === null ? '-' : ageText(s.snapshotAgeSeconds),
      bytesText(s.logBytes),
      bytesText(s.snapshotBytes),
      s.disk === null ? '?' : `${bytesText(s.disk.usedBytes)} (${percentText(s.disk.usedBytes, s.disk.sizeBytes)})`,
      s.disk === null ? '?' : bytesText(s.disk.freeBytes),
      produceCell(s),
    ]);
  }
  return rows;
}

/** "ok", "refused (disk > 90%)", or "ok (guard off)" for a node whose watermark is 100. */
function produceCell(status: NodeStatus): string {
  const limit = status.diskHighWatermarkPercent;
  if (status.produceRefused) return `refused (disk > ${limit ?? '?'}%)`;
  return limit === 100 ? 'ok (guard off)' : 'ok';
}

/** "930 B", "4.0 KiB", "1.5 GiB". */
export function bytesText(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  // Bounded by the units listed.
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** "45s", "12m 5s", "3h 20m", "2d 4h". */
export function ageText(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

function percentText(used: number, size: number): string {
  return size > 0 ? `${Math.floor((used / size) * 100)}%` : '?';
}
