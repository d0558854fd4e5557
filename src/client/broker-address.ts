/**
 * The broker addresses a client is given, checked when it is made: a mistyped address
 * (`localhost23501`) is an error at once, not a retry loop against nothing.
 */

import { InvalidArgumentError } from './errors.js';

/** host:port, where host is a name, an IPv4 address or a bracketed IPv6 address. */
const ADDRESS = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;

/** Why `address` is not a usable broker address, or null. */
export function brokerAddressProblem(address: unknown): string | null {
  if (typeof address !== 'string') return `a broker address must be a 'host:port' string, not ${typeof address}`;
  const match = ADDRESS.exec(address);
  if (match === null) return `broker address "${address}" is not host:port (for example 127.0.0.1:7501)`;
  const port = Number(match[1]);
  if (!(port >= 1 && port <= 65_535)) return `broker address "${address}" has port ${port}; a port is 1..65535`;
  return null;
}

/**
 * Throws InvalidArgumentError unless `brokers` is a non-empty list of host:port strings.
 * A single string is refused rather than guessed at (one address, or a comma-separated
 * list?): pass ['host:port'].
 */
export function checkBrokers(brokers: unknown): void {
  if (typeof brokers === 'string') throw new InvalidArgumentError(`brokers must be a list of 'host:port' addresses, not a string: use ['${brokers}']`);
  if (!Array.isArray(brokers)) throw new InvalidArgumentError(`brokers must be a list of 'host:port' addresses, not ${typeof brokers}`);
  if (brokers.length === 0) throw new InvalidArgumentError('brokers must name at least one host:port address');
  for (const address of brokers) {
    const problem = brokerAddressProblem(address);
    if (problem !== null) throw new InvalidArgumentError(problem);
  }
}
