import { groupNameProblem, type ResetTarget } from '../broker/index.js';
import { InvalidArgumentError, NotFoundError, type ResetGroupInput, type ResetGroupOutcome } from '../transport/index.js';
import { expect, type NodeBrokerService } from './broker-service.js';
import type { Replica } from './replica.js';
import type { NodeStateMachine } from './state-machine.js';

/** What a group reset needs of the node. */
export interface GroupResetDeps {
  readonly replica: Replica;
  readonly stateMachine: NodeStateMachine;
  readonly broker: NodeBrokerService;
}

/**
 * Moves a consumer group (the broker's resetGroup command), on the leader only: the leader
 * serves the group's consumers, and the earliest offset its own log keeps of the group's
 * topic is what "earliest" means and the floor the command carries (each node's log keeps
 * a different prefix, so the state machine cannot know it). An offset below that floor was
 * deleted by retention: OUT_OF_RANGE naming the earliest kept, as a consume there would be.
 * Answers once the entry is applied.
 */
export async function resetGroup(deps: GroupResetDeps, request: ResetGroupInput, options: { readonly timeoutMs: number }): Promise<ResetGroupOutcome> {
  const problem = groupNameProblem(request.group);
  if (problem !== null) throw new InvalidArgumentError(problem);
  const to = request.to;
  if (to.kind === 'offset') checkWhole('a reset offset', to.offset);
  if (to.kind === 'time') checkWhole('a reset time', to.timeMs);
  if (deps.replica.role() !== 'leader') throw deps.replica.notLeader();
  const group = deps.stateMachine.broker.group(request.group);
  if (group === undefined) throw new NotFoundError(`group ${request.group} does not exist`);
  const earliestOffset = deps.broker.earliestOffset(group.topic);
  if (to.kind === 'offset' && to.offset < earliestOffset) throw deps.broker.deletedError(group.topic, to.offset);
  const target: ResetTarget = to.kind === 'earliest' ? { kind: 'offset', offset: earliestOffset } : to;
  const result = expect(await deps.broker.propose({ kind: 'resetGroup', group: request.group, to: target, earliestOffset, force: request.force }, options.timeoutMs), 'groupReset');
  return { committedOffset: result.committedOffset, previousCommittedOffset: result.previousCommittedOffset, forgotten: result.forgotten };
}

/** A whole number the log's encoding carries (below 2^53), or INVALID_ARGUMENT. */
function checkWhole(what: string, value: number): void {
  if (!(Number.isSafeInteger(value) && value >= 0)) throw new InvalidArgumentError(`${what} must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, not ${value}`);
}
