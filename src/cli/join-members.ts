import * as fs from 'node:fs';

import { LogClient, type MembersView } from '../client/index.js';
import type { MemberConfig, NodeConfig } from '../node/index.js';
import { nodeId } from '../../raft/index.js';
import { splitBrokers } from './client-args.js';
import { UsageError } from './usage-error.js';

/** How long a joining node waits for one of the cluster's brokers to list its members. */
const JOIN_LIST_TIMEOUT_MS = 10_000;

/**
 * A node started with --join BROKERS (the client addresses of existing members): its
 * members are the cluster's, as a broker lists them, plus itself from --members (which then
 * needs to name only this node). When no broker answers, --members alone is used, with a
 * warning: a node that already joined restarts from its log, which names the members.
 */
export async function joinConfig(config: NodeConfig, brokersSpec: string, warn: (line: string) => void): Promise<NodeConfig> {
  const self = config.members.find((m) => m.id === config.id);
  if (self === undefined) throw new UsageError(`--join needs --members to give this node's own addresses: ${config.id}=peerHost:port/clientHost:port`);
  const brokers = splitBrokers(brokersSpec);
  if (brokers.length === 0) throw new UsageError('--join needs the client addresses of one or more existing members (host:port,...)');
  let listed: MembersView;
  const client = new LogClient({ brokers, timeoutMs: JOIN_LIST_TIMEOUT_MS, ...(config.tls === undefined ? {} : { tls: { ca: fs.readFileSync(config.tls.caFile) } }) });
  try {
    listed = await client.members();
  } catch (error) {
    warn(`--join: no broker of ${brokers.join(',')} listed the members (${error instanceof Error ? error.message : String(error)}); using --members alone`);
    return { ...config, join: true };
  } finally {
    client.close();
  }
  const members: MemberConfig[] = [self];
  for (const m of listed.members) {
    if (m.id === config.id || m.peerAddress === null || m.clientAddress === null) continue;
    members.push({ id: nodeId(m.id), peerAddress: m.peerAddress, clientAddress: m.clientAddress });
  }
  for (const m of config.members) if (!members.some((known) => known.id === m.id)) members.push(m);
  return { ...config, members, join: true };
}
