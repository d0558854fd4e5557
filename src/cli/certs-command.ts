import * as fs from 'node:fs';
import * as path from 'node:path';

import { issueDevelopmentCertificates, writeDevelopmentCertificates } from '../certs/index.js';
import { parseCommandLine } from './parse-command-line.js';
import { parseWholeNumber, UsageError } from './usage-error.js';

export const CERTS_HELP = `Usage: quorumlog certs init DIR [options]

Writes a development certificate authority and, signed by it, a certificate per member and
one per client, as PEM files in DIR (created; refused if it already holds a ca.pem):

  DIR/ca.pem, DIR/ca-key.pem          the CA (keep ca-key.pem to yourself: it issues more)
  DIR/ID.pem, DIR/ID-key.pem          each member: names urn:quorumlog:member:ID and the hosts
  DIR/NAME.pem, DIR/NAME-key.pem      each client: names urn:quorumlog:client:NAME

Keys are written readable by their owner only. Then: quorumlog cluster --tls DIR, and
clients with --tls-ca DIR/ca.pem.

Options:
  --members LIST     member ids, comma-separated (default n1,n2,n3)
  --clients LIST     client names (default client)
  --hosts LIST       host names and IP addresses the members' certificates are valid for
                     (default localhost,127.0.0.1,::1)
  --valid-days N     validity from an hour ago (default 365)
  -h, --help         show this help
`;

const OPTIONS = {
  members: { type: 'string' },
  clients: { type: 'string' },
  hosts: { type: 'string' },
  'valid-days': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** `quorumlog certs init DIR`. */
export async function runCertsCommand(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS, { allowPositionals: true });
  if (values.help === true) {
    process.stdout.write(CERTS_HELP);
    return 0;
  }
  const [action, dir, ...rest] = positionals;
  if (action !== 'init') throw new UsageError('certs needs an action: init DIR (see quorumlog certs --help)');
  if (dir === undefined || dir === '') throw new UsageError('certs init needs a directory');
  if (rest.length > 0) throw new UsageError(`certs init: unexpected argument "${rest[0]}"`);
  const members = listOf('members', values.members ?? 'n1,n2,n3');
  const clients = listOf('clients', values.clients ?? 'client');
  const hosts = listOf('hosts', values.hosts ?? 'localhost,127.0.0.1,::1');
  const validDays = parseWholeNumber('valid-days', values['valid-days'], { min: 1, max: 3650 }) ?? 365;
  const names = [...members, ...clients];
  if (new Set([...names, 'ca']).size !== names.length + 1) throw new UsageError('--members and --clients must be distinct names, none of them "ca"');
  if (fs.existsSync(path.join(dir, 'ca.pem'))) throw new UsageError(`${dir} already holds a ca.pem: choose an empty directory (an existing CA is never overwritten)`);
  const issued = await issueDevelopmentCertificates({ members, clients, hosts, validDays });
  writeDevelopmentCertificates(dir, issued);
  process.stdout.write(
    `wrote a development CA and certificates for ${members.join(', ')} (hosts ${hosts.join(', ')}) and client${clients.length === 1 ? '' : 's'} ${clients.join(', ')} to ${dir}, valid ${validDays} days\n` +
      `start a TLS cluster: quorumlog cluster --tls ${dir}\n` +
      `connect:             quorumlog status --tls-ca ${path.join(dir, 'ca.pem')}\n`,
  );
  return 0;
}

function listOf(flag: string, spec: string): string[] {
  const items = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`--${flag} is empty`);
  const pattern = flag === 'hosts' ? /^[A-Za-z0-9:][A-Za-z0-9_.:-]{0,252}$/ : /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
  for (const item of items) if (!pattern.test(item)) throw new UsageError(`--${flag}: "${item}" is not a valid ${flag === 'hosts' ? 'host name or IP address' : 'name'}`);
  return items;
}
