import type { ClientTlsOptions } from '../transport/index.js';

/** Where a bench's clients connect, and with which TLS (none: plaintext). */
export interface BenchTarget {
  readonly brokers: readonly string[];
  readonly tls?: ClientTlsOptions;
}

/** A client's connection options for `target`: its brokers, and its TLS when it has one. */
export function connection(target: BenchTarget): { readonly brokers: readonly string[]; readonly tls?: ClientTlsOptions } {
  return target.tls === undefined ? { brokers: target.brokers } : { brokers: target.brokers, tls: target.tls };
}
