/**
 * Label values for names that can grow without limit (topics, groups): the first `max`
 * names seen keep their own value for the life of the process, every later one shares
 * OTHER, so a metric's series stay bounded and a counter's series never move.
 */
export class BoundedLabels {
  /** Not a valid topic or group name, so it cannot clash with one. */
  static readonly OTHER = '(other)';
  private readonly own = new Set<string>();

  constructor(private readonly max: number) {}

  of(name: string): string {
    if (this.own.has(name)) return name;
    if (this.own.size >= this.max) return BoundedLabels.OTHER;
    this.own.add(name);
    return name;
  }
}
