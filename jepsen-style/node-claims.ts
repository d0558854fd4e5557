/**
 * Which lane of the nemesis is acting on which node. The membership lane runs beside the
 * other faults (so a leader is killed while a promote waits), and the two must not take the
 * same node at once: a kill's heal would restart a node the membership lane just removed and
 * wiped, and a removal would take a node a pause still holds. Each lane claims the nodes it
 * acts on before its first action and releases them when it is done; the other lane chooses
 * its targets among the rest.
 */
export type Lane = 'faults' | 'members';

export class NodeClaims {
  readonly #owners = new Map<string, Lane>();

  /** Claims every one of `ids` for `lane`; false (and claims nothing) when the other lane holds one. */
  claim(lane: Lane, ids: readonly string[]): boolean {
    if (ids.some((id) => (this.#owners.get(id) ?? lane) !== lane)) return false;
    for (const id of ids) this.#owners.set(id, lane);
    return true;
  }

  release(lane: Lane, ids: readonly string[]): void {
    for (const id of ids) if (this.#owners.get(id) === lane) this.#owners.delete(id);
  }

  /** `ids` without those the other lane holds. */
  free(lane: Lane, ids: readonly string[]): string[] {
    return ids.filter((id) => (this.#owners.get(id) ?? lane) === lane);
  }

  heldBy(lane: Lane): string[] {
    return [...this.#owners].filter(([, owner]) => owner === lane).map(([id]) => id);
  }
}
