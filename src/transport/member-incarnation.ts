/**
 * Why a peer speaking for member `from` from data directory `incarnation` may not, or null
 * when it may: a member whose incarnation is recorded here ('' for none) speaks only from
 * that one. Anything else is a wiped or replaced disk restarted under the member's id, which
 * must not vote or take entries it never acknowledged under that id (docs/membership.md).
 * The peer listener refuses streams and snapshot uploads with this text; the simulator
 * (test/sim/sim-peer-links.ts) admits messages by it too.
 */
export function memberIncarnationRefusal(options: { readonly from: string; readonly recorded: string; readonly incarnation: string; readonly peerAddress: string }): string | null {
  const { from, recorded, incarnation, peerAddress } = options;
  if (recorded === '' || incarnation === recorded) return null;
  return (
    `member ${from} is known here with data directory incarnation ${recorded}, and the node at ${peerAddress} has ${incarnation || 'none'}: ` +
    `its disk was wiped or replaced, so it may not vote or take entries as ${from}; replace it: ` +
    `quorumlog members replace ${from} NEW_ID PEER_ADDRESS/CLIENT_ADDRESS (or remove ${from} and add it again as a learner)`
  );
}
