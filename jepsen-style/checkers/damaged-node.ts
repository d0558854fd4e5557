import type { HistoryEvent, ObservationEvent } from '../history.js';
import { nothingToCheck, Violations, type CheckerResult } from './checker-result.js';

/**
 * What the disk nemesis observes about a node it damaged (ObservationEvent.what):
 *  - damage-below-mark: the damage reached records the node had made durable;
 *  - refused-start: the node would not open the damaged log: a failure, since a node repairs
 *    damage from its peers (it cuts the log before the damage and waits to be repaired);
 *  - damage-cut: it started, cut its log before damage that was not a torn tail, and said so;
 *  - loss-reported: it started and said it lost durable entries (and will not vote);
 *  - tail-cut: it started and cut a torn tail;
 *  - voting-blocked / voting-unblocked: its status said so;
 *  - led-while-blocked: it became leader while its status still said its vote was blocked.
 */
export const DiskObservation = {
  damageBelowMark: 'damage-below-mark',
  refusedStart: 'refused-start',
  damageCut: 'damage-cut',
  lossReported: 'loss-reported',
  tailCut: 'tail-cut',
  votingBlocked: 'voting-blocked',
  votingUnblocked: 'voting-unblocked',
  ledWhileBlocked: 'led-while-blocked',
} as const;

/**
 * damaged node: a node whose durable records were damaged must notice (start saying it lost
 * entries), must start without hand repair, and must not lead while its vote is blocked. Lost writes
 * that a damaged node let through are the lost checker's to find.
 */
export function checkDamagedNodes(events: readonly HistoryEvent[]): CheckerResult {
  const observations = events.filter((e): e is ObservationEvent => e.type === 'observe' && e.faultId !== undefined);
  const faults = new Map<number, ObservationEvent[]>();
  for (const o of observations) {
    const list = faults.get(o.faultId ?? 0);
    if (list === undefined) faults.set(o.faultId ?? 0, [o]);
    else list.push(o);
  }
  if (faults.size === 0) return nothingToCheck('damaged-node', 'no disk fault was observed');
  const bad = new Violations();
  let belowMark = 0;
  let noticed = 0;
  for (const [faultId, list] of faults) {
    const has = (what: string): boolean => list.some((o) => o.what === what);
    for (const o of list) {
      if (o.what === DiskObservation.ledWhileBlocked) bad.add({ faultId, node: o.node, detail: o.detail });
      if (o.what === DiskObservation.refusedStart) bad.add({ faultId, node: o.node, problem: 'the node refused to start on its damaged log (it needed hand repair)', detail: o.detail });
    }
    if (!has(DiskObservation.damageBelowMark)) continue;
    belowMark++;
    if (has(DiskObservation.lossReported)) noticed++;
    else bad.add({ faultId, node: list[0]?.node, problem: 'durable records were damaged and the node started without reporting a loss', seen: list.map((o) => o.what) });
  }
  return { name: 'damaged-node', valid: bad.count === 0, counts: { diskFaults: faults.size, damagedBelowMark: belowMark, noticed, violations: bad.count }, examples: bad.examples };
}
