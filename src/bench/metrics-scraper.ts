/**
 * Fetches every node's /metrics every `intervalMs`, as a Prometheus server would, so the
 * bench can show what being scraped costs a node. One scrape round at a time; stop() ends
 * the loop and waits for the round in flight.
 */
export class MetricsScraper {
  #scrapes = 0;
  #failed = 0;
  #stopped = false;
  readonly #timer: NodeJS.Timeout;
  #round: Promise<void> = Promise.resolve();

  constructor(
    private readonly addresses: readonly string[],
    readonly intervalMs: number,
    /** Called with each answered scrape's text, for a caller that reads values from it. */
    private readonly onScrape?: (address: string, text: string) => void,
    /** `immediately`: a first round at once, rather than after the first interval. */
    options: { readonly immediately?: boolean } = {},
  ) {
    const round = (): void => {
      this.#round = this.#round.then(() => this.#scrapeAll());
    };
    this.#timer = setInterval(round, intervalMs);
    if (options.immediately === true) round();
  }

  async #scrapeAll(): Promise<void> {
    if (this.#stopped) return;
    await Promise.all(
      this.addresses.map(async (address) => {
        try {
          const response = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(this.intervalMs) });
          const text = await response.text();
          if (response.ok) {
            this.#scrapes++;
            this.onScrape?.(address, text);
          } else this.#failed++;
        } catch {
          this.#failed++;
        }
      }),
    );
  }

  /** Ends the loop (safe to call twice) and says how many scrapes were answered and failed. */
  async stop(): Promise<{ scrapeIntervalMs: number; scrapes: number; failed: number }> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#round;
    return { scrapeIntervalMs: this.intervalMs, scrapes: this.#scrapes, failed: this.#failed };
  }
}
