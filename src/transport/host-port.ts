/** host:port (a name or IPv4 address) or [IPv6]:port: the form every address of ours takes, on the command line and on the wire. */
const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;

export function isHostPort(address: string): boolean {
  return HOST_PORT.test(address);
}
