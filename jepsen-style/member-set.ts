/** The configuration the harness last confirmed (a leader's Members answer), in pool order. */
export interface KnownConfiguration {
  readonly voters: readonly string[];
  readonly learners: readonly string[];
}

/**
 * The cluster model's bookkeeping of who is a member: `pool` is every id a run may start (the
 * bootstrapped ones first, then the spares), the configuration is the one last confirmed
 * (bootstrap: the first ids as voters), and a node "joins" (starts with --join, bootstraps
 * nothing) unless it is a bootstrapped id that never started afresh.
 */
export class MemberSet {
  #configuration: KnownConfiguration;
  readonly #joining = new Set<string>();

  constructor(readonly pool: readonly string[], readonly bootstrap: readonly string[]) {
    if (new Set(pool).size !== pool.length) throw new Error(`the pool names an id twice: ${pool.join(',')}`);
    if (!bootstrap.every((id) => pool.includes(id))) throw new Error(`bootstrap ${bootstrap.join(',')} is not in the pool ${pool.join(',')}`);
    this.#configuration = { voters: [...bootstrap], learners: [] };
  }

  /** The members: voters, then learners, each in pool order. */
  get ids(): string[] {
    return [...this.#configuration.voters, ...this.#configuration.learners];
  }

  get configuration(): KnownConfiguration {
    return this.#configuration;
  }

  /** Records a confirmed configuration; an id outside the pool is a harness error. */
  set(configuration: KnownConfiguration): void {
    for (const id of [...configuration.voters, ...configuration.learners]) if (!this.pool.includes(id)) throw new Error(`${id} is not in the pool ${this.pool.join(',')}`);
    const inPoolOrder = (ids: readonly string[]): string[] => this.pool.filter((id) => ids.includes(id));
    this.#configuration = { voters: inPoolOrder(configuration.voters), learners: inPoolOrder(configuration.learners) };
  }

  /** Pool ids that are not members now (a spare, or a removed member), in pool order. */
  get nonMembers(): string[] {
    const members = new Set(this.ids);
    return this.pool.filter((id) => !members.has(id));
  }

  /** From now on `id` starts with --join (it starts afresh, on an empty data directory). */
  markJoining(id: string): void {
    if (!this.pool.includes(id)) throw new Error(`${id} is not in the pool`);
    this.#joining.add(id);
  }

  /** Whether `id` starts with --join: a spare, or a bootstrapped id that started afresh. */
  joins(id: string): boolean {
    return this.#joining.has(id) || !this.bootstrap.includes(id);
  }
}
