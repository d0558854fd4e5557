import { Admin, type AclOperation, type AclRule } from '../client/index.js';
import { parseClientArgs, type CommandContext, type Flags } from './client-args.js';
import { UsageError } from './usage-error.js';

const HELP = `Usage: quorumlog acl add    --principal U (--topic T | --topic-prefix P | --group G | --group-prefix P) --operations OPS
       quorumlog acl remove --principal U (--topic T | --topic-prefix P | --group G | --group-prefix P) --operations OPS
       quorumlog acl list [--json]

Access control lists, kept in the cluster's replicated state (docs/security.md). A rule
allows principal U (a user of the users file, a client certificate's client name, or '*'
for any authenticated client) the operations OPS, a comma-separated subset of
  produce   write to a topic (produce, half messages, deciding one's own transactions)
  consume   read a topic (fetch, consume); take part in a group (consume, ack, nack, leave)
  admin     create and delete a topic; create, delete and reset a group; decide a
            transaction by hand (quorumlog tx)
on one topic or group, or every one whose name starts with a prefix (--topic-prefix ''
for every topic). Rules only allow;
anything no rule allows is refused (PERMISSION_DENIED) on a node that authenticates
clients. add merges OPS into the rule of the same principal and resource; remove takes
them away. Changing and listing the ACLs is for the nodes' --super-users only: --user (or a
client certificate) says who you are, as for every command; --principal whom the rule is for.
`;

const SELECTORS = { 'topic': ['topic', ''], 'topic-prefix': ['topic', '*'], 'group': ['group', ''], 'group-prefix': ['group', '*'] } as const;
const OPERATIONS: readonly AclOperation[] = ['produce', 'consume', 'admin'];

/** `quorumlog acl add|remove|list`. */
export async function runAclCommand(argv: readonly string[]): Promise<number> {
  const extra = {
    principal: { type: 'string' },
    topic: { type: 'string' },
    'topic-prefix': { type: 'string' },
    group: { type: 'string' },
    'group-prefix': { type: 'string' },
    operations: { type: 'string' },
  } as const;
  const args = parseClientArgs(argv, { extra, allowPositionals: true, help: HELP });
  if (args === null) return 0;
  const { context, flags, positionals } = args;
  const [action, ...rest] = positionals;
  if (action !== 'add' && action !== 'remove' && action !== 'list') throw new UsageError('acl needs an action: add, remove or list');
  if (rest.length > 0) throw new UsageError(`acl ${action}: unexpected argument "${rest[0]}"`);
  const admin = new Admin({ brokers: context.brokers, timeoutMs: context.timeoutMs, ...context.connection });
  try {
    if (action === 'list') {
      printRules(await admin.listAcls(), context);
      return 0;
    }
    const rule = ruleFrom(flags);
    const changed = action === 'add' ? await admin.addAcl(rule) : await admin.removeAcl(rule);
    const what = `${rule.principal} ${rule.operations.join(',')} on ${rule.resource.kind} ${rule.resource.pattern}`;
    const said = action === 'add' ? (changed ? `allowed ${what}` : `already allowed: ${what}`) : changed ? `no longer allowed: ${what}` : `was not allowed: ${what}`;
    process.stdout.write(context.json ? `${JSON.stringify({ action, changed, rule })}\n` : `${said}\n`);
    return 0;
  } finally {
    admin.close();
  }
}

/** The rule the flags describe; UsageError (exit 2) for anything missing, doubled or unknown. */
export function ruleFrom(flags: Flags): AclRule {
  const principal = flags['principal'];
  if (typeof principal !== 'string' || principal === '') throw new UsageError("--principal U is required: a user, a client name, or '*' for any authenticated client");
  const given = (Object.keys(SELECTORS) as (keyof typeof SELECTORS)[]).filter((flag) => flags[flag] !== undefined);
  if (given.length !== 1) throw new UsageError('give exactly one of --topic T, --topic-prefix P, --group G, --group-prefix P');
  const flag = given[0] as keyof typeof SELECTORS;
  const value = String(flags[flag]);
  const [kind, suffix] = SELECTORS[flag];
  // An empty prefix is every name of the kind; an empty name is none.
  if ((value === '' && suffix === '') || value.includes('*')) throw new UsageError(`--${flag} takes a name without '*' (a prefix is --topic-prefix / --group-prefix; '' for all), not "${value}"`);
  const spec = flags['operations'];
  if (typeof spec !== 'string' || spec === '') throw new UsageError('--operations is required: a comma-separated subset of produce, consume, admin');
  const operations: AclOperation[] = [];
  for (const name of spec.split(',').map((s) => s.trim())) {
    const op = OPERATIONS.find((o) => o === name);
    if (op === undefined) throw new UsageError(`--operations: unknown operation "${name}" (produce, consume, admin)`);
    if (!operations.includes(op)) operations.push(op);
  }
  return { principal, resource: { kind, pattern: `${value}${suffix}` }, operations: OPERATIONS.filter((o) => operations.includes(o)) };
}

function printRules(rules: readonly AclRule[], output: Pick<CommandContext, 'json'>): void {
  if (output.json) {
    process.stdout.write(`${JSON.stringify(rules)}\n`);
    return;
  }
  if (rules.length === 0) process.stdout.write('no ACL rules\n');
  for (const r of rules) process.stdout.write(`${r.principal}\t${r.resource.kind}\t${r.resource.pattern}\t${r.operations.join(',')}\n`);
}
