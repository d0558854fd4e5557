import { TransactionClient, type TransactionInfo } from '../client/index.js';
import { parseClientArgs, type CommandContext } from './client-args.js';
import { UsageError } from './usage-error.js';

const HELP = `Usage: quorumlog tx list
       quorumlog tx commit TX_ID
       quorumlog tx rollback TX_ID

list shows the undecided transactions (half messages neither committed nor rolled back) as
the answering node has applied them: id, producer group, topic, messages, age, check-backs
so far of the most allowed, and when the next is due. commit and rollback decide one by hand
(recorded as decided by an administrator); deciding it the way it was decided is a no-op,
the other way is refused. See docs/transactions.md.
`;

/** `quorumlog tx ...`: operators' view of transactions. */
export async function runTxCommand(argv: readonly string[]): Promise<number> {
  const args = parseClientArgs(argv, { extra: {}, allowPositionals: true, help: HELP });
  if (args === null) return 0;
  const { context, positionals } = args;
  const { brokers, timeoutMs, json } = context;
  const [action, txId, ...rest] = positionals;
  if (action !== 'list' && action !== 'commit' && action !== 'rollback') throw new UsageError('tx needs an action: list, commit or rollback');
  if (action === 'list' && txId !== undefined) throw new UsageError(`tx list: unexpected argument "${txId}"`);
  if (action !== 'list' && (txId === undefined || txId === '')) throw new UsageError(`tx ${action} needs a transaction id`);
  if (rest.length > 0) throw new UsageError(`tx ${action}: unexpected argument "${rest[0]}"`);
  const client = new TransactionClient({ brokers, timeoutMs, ...context.connection });
  try {
    if (action === 'list') {
      const { transactions, nowMs } = await client.listTransactions();
      printTransactions(transactions, nowMs, context);
      return 0;
    }
    const end = await client.endTransaction(txId ?? '', action, 'admin');
    const offsets = end.state === 'committed' ? ` at offsets ${end.firstOffset}..${end.firstOffset + end.count - 1} of ${end.topic}` : '';
    const again = end.duplicate ? ' (it already was)' : '';
    process.stdout.write(json ? `${JSON.stringify({ txId, ...end })}\n` : `${end.state === 'committed' ? 'committed' : 'rolled back'} transaction ${txId}${offsets}${again}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

function printTransactions(transactions: readonly TransactionInfo[], nowMs: number, output: Pick<CommandContext, 'json'>): void {
  const rows = transactions.map((t) => ({ ...t, ageMs: Math.max(0, nowMs - t.preparedAtMs), nextCheckInMs: Math.max(0, t.nextCheckMs - nowMs) }));
  if (output.json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write('no undecided transactions\n');
    return;
  }
  process.stdout.write('TX_ID\tGROUP\tTOPIC\tMESSAGES\tAGE\tCHECKS\tNEXT_CHECK_IN\n');
  for (const r of rows) {
    process.stdout.write(`${r.txId}\t${r.producerGroup}\t${r.topic}\t${r.messageCount}\t${seconds(r.ageMs)}\t${r.checkCount}/${r.checkMax}\t${seconds(r.nextCheckInMs)}\n`);
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
