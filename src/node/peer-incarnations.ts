import * as nodeFs from 'node:fs';
import * as path from 'node:path';

import type { NodeId } from '../../raft/index.js';
import { ConfigError } from './config.js';
import { replaceFileDurablySync } from './durable-file.js';

const FILE = 'peer-incarnations.json';
const FORMAT_VERSION = 1;
/** A configuration is a handful of nodes; members come and go by the dozen at most. */
const PEERS_MAX = 1024;

/**
 * The data directory incarnation this node first heard each member speak from (trust on
 * first use), kept in its own data directory: DIR/peer-incarnations.json, written whole to a
 * temporary file, fsynced and renamed. The members a cluster was bootstrapped with are in no
 * config entry, so the replicated member book has no incarnation for them; this is how each
 * node still tells a wiped disk under such a member's id from the member itself. The book's
 * incarnation, when it has one (members added since, members re-added), comes first.
 *
 * Written only when a member is first heard (a few times in a cluster's life), never on a
 * hot path; a node whose own disk is wiped loses this file too, and learns again.
 */
export class PeerIncarnations {
  private readonly file: string;
  private readonly known: Map<NodeId, string>;

  private constructor(file: string, known: Map<NodeId, string>) {
    this.file = file;
    this.known = known;
  }

  /** Reads DIR's record (none yet: empty). ConfigError for a file that is not one. */
  static open(dataDir: string): PeerIncarnations {
    const file = path.join(dataDir, FILE);
    let text: string;
    try {
      text = nodeFs.readFileSync(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new PeerIncarnations(file, new Map());
      throw new ConfigError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
    }
    const parsed = parse(text);
    if (parsed === null) throw new ConfigError(`${file} is not a quorumlog peer incarnation record; move it away (the node learns its peers again)`);
    return new PeerIncarnations(file, parsed);
  }

  get(peer: NodeId): string | undefined {
    return this.known.get(peer);
  }

  /** Records `incarnation` for `peer` unless one is recorded already (then nothing changes). Durable when it returns. */
  learn(peer: NodeId, incarnation: string): void {
    if (incarnation === '' || this.known.has(peer) || this.known.size >= PEERS_MAX) return;
    this.known.set(peer, incarnation);
    this.write();
  }

  /** `peer` left the configuration: a member added later under its id is heard afresh. */
  forget(peer: NodeId): void {
    if (this.known.delete(peer)) this.write();
  }

  private write(): void {
    replaceFileDurablySync(this.file, `${JSON.stringify({ version: FORMAT_VERSION, peers: Object.fromEntries(this.known) }, null, 2)}\n`);
  }
}

function parse(text: string): Map<NodeId, string> | null {
  try {
    const parsed = JSON.parse(text) as { version?: unknown; peers?: unknown };
    if (parsed.version !== FORMAT_VERSION || typeof parsed.peers !== 'object' || parsed.peers === null) return null;
    const known = new Map<NodeId, string>();
    for (const [peer, incarnation] of Object.entries(parsed.peers as Record<string, unknown>)) {
      if (typeof incarnation !== 'string') return null;
      known.set(peer as NodeId, incarnation);
    }
    return known;
  } catch {
    return null;
  }
}
