import { Admin, type MemberAddresses, type MembersView } from '../client/index.js';
import { isHostPort } from '../transport/index.js';
import { parseClientArgs, type CommandContext } from './client-args.js';
import { parseWholeNumber, UsageError } from './usage-error.js';

const HELP = `Usage: quorumlog members list
       quorumlog members add ID PEER_ADDRESS/CLIENT_ADDRESS
       quorumlog members promote ID [--catch-up-timeout-ms MS]
       quorumlog members remove ID [--force]
       quorumlog members replace OLD_ID NEW_ID PEER_ADDRESS/CLIENT_ADDRESS

The cluster's membership lives in its log (docs/membership.md); these change it one server
at a time, on the leader, and answer once the change is committed.

list      the voters and learners, their addresses and recorded data directory incarnations,
          and on the leader each one's match index
add       adds a running node (started with quorumlog node --id ID --join BROKERS ...) as a
          learner: it receives the log and snapshots but does not vote
promote   makes a learner a voter once it has caught up (waits up to --catch-up-timeout-ms,
          default 120000)
remove    removes a voter or learner. Removing the leader moves leadership first. Refused
          when too few voters that answered lately would remain for a quorum, unless --force
replace   add NEW_ID, wait for it to catch up, promote it, remove OLD_ID: how a node whose
          disk was lost or wiped comes back (under a new id; the old one is never re-used)
`;

/** `quorumlog members ...`: the cluster's membership. */
export async function runMembersCommand(argv: readonly string[]): Promise<number> {
  const extra = { force: { type: 'boolean' }, 'catch-up-timeout-ms': { type: 'string' } } as const;
  const args = parseClientArgs(argv, { extra, allowPositionals: true, help: HELP });
  if (args === null) return 0;
  const { context, flags, positionals } = args;
  const [action, ...rest] = positionals;
  const catchUpTimeoutMs = parseWholeNumber('catch-up-timeout-ms', flags['catch-up-timeout-ms'] as string | undefined, { min: 1 }) ?? 120_000;
  const force = flags['force'] === true;
  const expect = (count: number, usage: string): string[] => {
    if (rest.length !== count) throw new UsageError(`members ${action ?? ''} needs ${usage}${rest.length > count ? `; unexpected "${rest[count] ?? ''}"` : ''}`);
    return rest;
  };
  if (force && action !== 'remove' && action !== 'replace') throw new UsageError('--force goes with members remove (or replace) only');
  const admin = new Admin({ brokers: context.brokers, timeoutMs: context.timeoutMs, ...context.connection });
  try {
    let view: MembersView;
    let said: string;
    switch (action) {
      case 'list':
        expect(0, 'no arguments');
        print(await admin.members.list(), context);
        return 0;
      case 'add': {
        const [id = '', spec = ''] = expect(2, 'ID and PEER_ADDRESS/CLIENT_ADDRESS');
        view = await admin.members.add(id, parseAddresses(spec), {});
        said = `added ${id} as a learner; promote it once it has caught up: quorumlog members promote ${id}`;
        break;
      }
      case 'promote': {
        const [id = ''] = expect(1, 'ID');
        view = await admin.members.promote(id, { catchUpTimeoutMs });
        said = `${id} is a voter`;
        break;
      }
      case 'remove': {
        const [id = ''] = expect(1, 'ID');
        view = await admin.members.remove(id, { force });
        said = `removed ${id}`;
        break;
      }
      case 'replace': {
        const [oldId = '', newId = '', spec = ''] = expect(3, 'OLD_ID, NEW_ID and PEER_ADDRESS/CLIENT_ADDRESS');
        view = await admin.members.replace(oldId, newId, parseAddresses(spec), { catchUpTimeoutMs, force });
        said = `replaced ${oldId} by ${newId}`;
        break;
      }
      default:
        throw new UsageError('members needs an action: list, add, promote, remove or replace');
    }
    if (context.json) print(view, context);
    else process.stdout.write(`${said}\n`);
    return 0;
  } finally {
    await admin.close();
  }
}

/** "127.0.0.1:7604/127.0.0.1:7504": the peer address, then the client address, as --members writes them. */
export function parseAddresses(spec: string): MemberAddresses {
  const slash = spec.indexOf('/');
  const peerAddress = spec.slice(0, slash).trim();
  const clientAddress = spec.slice(slash + 1).trim();
  if (slash <= 0 || !isHostPort(peerAddress) || !isHostPort(clientAddress)) {
    throw new UsageError(`"${spec}" must be PEER_HOST:PORT/CLIENT_HOST:PORT`);
  }
  return { peerAddress, clientAddress };
}

function print(view: MembersView, output: Pick<CommandContext, 'json'>): void {
  if (output.json) {
    process.stdout.write(`${JSON.stringify(view)}\n`);
    return;
  }
  process.stdout.write('ID\tROLE\tPEER\tCLIENT\tINCARNATION\tMATCH\n');
  for (const m of view.members) {
    const leader = m.id === view.leaderId ? ' (leader)' : '';
    process.stdout.write(`${m.id}${leader}\t${m.role}\t${m.peerAddress ?? '?'}\t${m.clientAddress ?? '?'}\t${m.incarnation === '' ? '-' : m.incarnation.slice(0, 8)}\t${m.matchIndex ?? '-'}\n`);
  }
}
