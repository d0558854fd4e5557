import { checkUserName, hashPassword, readUsersFileOrEmpty, SCRYPT_DEFAULTS, UsersFileError, writeUsersFile, type UsersTable } from '../auth/index.js';
import { PASSWORD_ENV, readPasswordFile } from './client-args.js';
import { parseCommandLine } from './parse-command-line.js';
import { promptHidden } from './password-prompt.js';
import { UsageError } from './usage-error.js';

export const USERS_HELP = `Usage: quorumlog users add|passwd|remove|list [USER] --file FILE [options]

Keeps the users file a node authenticates clients with (quorumlog node --users-file FILE):
each user's password as an scrypt hash (N=${SCRYPT_DEFAULTS.N} r=${SCRYPT_DEFAULTS.r} p=${SCRYPT_DEFAULTS.p}, a random salt per user),
never the password. The file is rewritten atomically, readable by its owner only (0600).
A running node reads it again on SIGHUP (kill -HUP PID).

  users add USER      add a user (refused if it exists: use passwd)
  users passwd USER   set an existing user's password
  users remove USER   remove a user
  users list          print the users' names

The password (add, passwd) comes from --password-file (its first line), else
$${PASSWORD_ENV}, else a prompt on the terminal (typed twice, not echoed); never from
the command line. At least 8 characters.

Options:
  --file FILE            the users file (created by add when missing)
  --password-file FILE   read the password from FILE
  -h, --help             show this help
`;

const OPTIONS = {
  file: { type: 'string' },
  'password-file': { type: 'string' },
  // Defined only to be refused without echoing its value.
  password: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const PASSWORD_CHARS_MIN = 8;

type Action = 'add' | 'passwd' | 'remove' | 'list';

/** `quorumlog users ...`; returns the exit status. */
export async function runUsersCommand(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS, { allowPositionals: true });
  if (values.help === true) {
    process.stdout.write(USERS_HELP);
    return 0;
  }
  if (values.password !== undefined) throw new UsageError(`--password is not taken: a password on the command line is visible to every user of the machine; set ${PASSWORD_ENV}, give --password-file, or type it at the prompt`);
  const [action, user, ...rest] = positionals;
  if (action !== 'add' && action !== 'passwd' && action !== 'remove' && action !== 'list') throw new UsageError('users needs an action: add, passwd, remove or list (see quorumlog users --help)');
  if (values.file === undefined || values.file === '') throw new UsageError(`users ${action} needs --file FILE (the users file)`);
  if (rest.length > 0) throw new UsageError(`users ${action}: unexpected argument "${rest[0]}"`);
  const file = values.file;
  const table = withFileErrors(() => readUsersFileOrEmpty(file));
  if (action === 'list') {
    if (user !== undefined) throw new UsageError(`users list: unexpected argument "${user}"`);
    for (const name of table.names()) process.stdout.write(`${name}\n`);
    return 0;
  }
  if (user === undefined) throw new UsageError(`users ${action} needs a user name`);
  try {
    checkUserName(user);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  await change(action, { table, user, file, passwordFile: values['password-file'] });
  return 0;
}

async function change(action: Exclude<Action, 'list'>, target: { readonly table: UsersTable; readonly user: string; readonly file: string; readonly passwordFile: string | undefined }): Promise<void> {
  const { table, user, file } = target;
  if (action === 'remove') {
    if (!table.remove(user)) throw new UsageError(`users remove: no user ${user} in ${file}`);
    withFileErrors(() => writeUsersFile(file, table));
    process.stdout.write(`removed user ${user} from ${file}; send the nodes SIGHUP to apply it\n`);
    return;
  }
  if (action === 'add' && table.has(user)) throw new UsageError(`users add: ${user} is already in ${file} (users passwd ${user} changes the password)`);
  if (action === 'passwd' && !table.has(user)) throw new UsageError(`users passwd: no user ${user} in ${file} (users add ${user} adds one)`);
  const password = await passwordFor(user, target.passwordFile);
  table.set(user, await hashPassword(password));
  withFileErrors(() => writeUsersFile(file, table));
  const verb = action === 'add' ? 'added user' : 'set the password of';
  process.stdout.write(`${verb} ${user} in ${file}; send the nodes SIGHUP to apply it\n`);
}

/** --password-file, else $QUORUMLOG_PASSWORD, else the terminal (twice); at least PASSWORD_CHARS_MIN characters. */
async function passwordFor(user: string, passwordFile: string | undefined): Promise<string> {
  let password: string;
  if (passwordFile !== undefined) password = readPasswordFile(passwordFile);
  else if ((process.env[PASSWORD_ENV] ?? '') !== '') password = process.env[PASSWORD_ENV] ?? '';
  else if (process.stdin.isTTY) {
    password = await promptHidden(`password for ${user}: `);
    if ((await promptHidden('again: ')) !== password) throw new UsageError('the two passwords differ; nothing changed');
  } else {
    throw new UsageError(`no password: give --password-file, set ${PASSWORD_ENV}, or run on a terminal to be prompted`);
  }
  if ([...password].length < PASSWORD_CHARS_MIN) throw new UsageError(`the password must be at least ${PASSWORD_CHARS_MIN} characters; nothing changed`);
  return password;
}

function withFileErrors<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof UsersFileError) throw new UsageError(error.message);
    throw error;
  }
}
