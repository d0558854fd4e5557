import type { BrokerCommand, MessageRecord } from './commands.js';
import { auditCopies } from './transactions.js';

/**
 * The messages an entry's command holds, by position: what a topic's offset runs point at.
 * Empty for commands that hold none.
 */
export function messagesHeld(command: BrokerCommand): readonly MessageRecord[] {
  switch (command.kind) {
    case 'produce':
      return command.messages;
    case 'deadLetter':
      return [command.message];
    case 'halfMessage':
      // Positions 0..n-1: the messages a commit makes visible; n..2n-1: their audit copies,
      // which a rollback after the last check-back makes visible in the audit topic.
      return [...command.messages, ...auditCopies(command)];
    default:
      return [];
  }
}
