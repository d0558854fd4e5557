import * as net from 'node:net';

/** A range of loopback ports to pick from, both ends included in the search. */
export interface PortRange {
  readonly lowPort: number;
  readonly highPort: number;
}

/**
 * The default range lies below the kernel's ephemeral range (32768+ on Linux), so an outgoing
 * connection of some node can never be sitting on a port a restarted node must listen on
 * again. The local cluster's 7501.. and 7601.. stay clear, for someone's `npm start`.
 */
export const NODE_PORT_RANGE: PortRange = { lowPort: 20_000, highPort: 32_000 };
const ATTEMPTS_MAX = 50;

/**
 * Finds `count` consecutive free loopback ports: a random base in the range, each port
 * checked by binding it on 127.0.0.1. Free a moment ago, not reserved: a caller that loses
 * the race sees EADDRINUSE when its process binds, and may try again.
 */
export async function freePorts(count: number, range: PortRange = NODE_PORT_RANGE): Promise<number[]> {
  for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
    const base = range.lowPort + Math.floor(Math.random() * (range.highPort - range.lowPort - count));
    const ports = Array.from({ length: count }, (_, k) => base + k);
    const free = await Promise.all(ports.map(isFree));
    if (free.every(Boolean)) return ports;
  }
  throw new Error(`found no run of ${count} free loopback ports in ${range.lowPort}..${range.highPort} after ${ATTEMPTS_MAX} tries`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * A port the kernel picks from its ephemeral range, free a moment ago: for in-process servers
 * whose peers must know the address before it listens. Not for a node that restarts on its
 * port (an outgoing connection may take it meanwhile); use freePorts for those.
 */
export function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
