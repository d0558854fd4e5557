import * as net from 'node:net';

/**
 * Ports are taken below the kernel's ephemeral range (32768+ on Linux), so an outgoing
 * connection of some node can never be sitting on a port a restarted node must listen on
 * again. The local cluster's 7501.. and 7601.. stay clear, for someone's `npm start`.
 */
const PORT_LOW = 20_000;
const PORT_HIGH = 32_000;
const ATTEMPTS_MAX = 50;

/** Finds `count` consecutive-ish free loopback ports: a random base, each port checked by binding it. */
export async function freePorts(count: number): Promise<number[]> {
  for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
    const base = PORT_LOW + Math.floor(Math.random() * (PORT_HIGH - PORT_LOW - count));
    const ports = Array.from({ length: count }, (_, k) => base + k);
    const free = await Promise.all(ports.map(isFree));
    if (free.every(Boolean)) return ports;
  }
  throw new Error(`found no run of ${count} free loopback ports in ${PORT_LOW}..${PORT_HIGH} after ${ATTEMPTS_MAX} tries`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
