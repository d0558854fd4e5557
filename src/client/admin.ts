import { AclCalls, type AclRule } from './acls.js';
import { GroupCalls, type GroupInfo, type GroupResetResult, type GroupResetTarget, type GroupSettings, type GroupStart } from './groups.js';
import { LogClient, type CallOptions, type LogClientOptions, type TopicInfo } from './log-client.js';
import { MemberCalls } from './members.js';

/**
 * Topic administration, like Kafka's Admin client. Creating and deleting go to the leader
 * and answer once committed; listing and describing answer from whichever node is asked,
 * as far as it has applied the log.
 */
export class Admin {
  readonly #client: LogClient;
  readonly #groups: GroupCalls;
  readonly #acls: AclCalls;
  /** Cluster membership: list, add, promote, remove, replace (docs/membership.md). Superusers only where ACLs are enforced. */
  readonly members: MemberCalls;

  constructor(options: LogClientOptions) {
    this.#client = new LogClient(options);
    this.#groups = new GroupCalls(this.#client);
    this.#acls = new AclCalls(this.#client);
    this.members = new MemberCalls(this.#client);
  }

  /**
   * Grants a rule's operations (merged into the rule of the same principal and resource).
   * Superusers only (PermissionDeniedError otherwise); InvalidArgumentError for a rule that
   * cannot be one. True if the rules changed.
   */
  addAcl(rule: AclRule, options: CallOptions = {}): Promise<boolean> {
    return this.#acls.add(rule, options);
  }

  /** Takes a rule's operations away; true if the rules changed. Superusers only. */
  removeAcl(rule: AclRule, options: CallOptions = {}): Promise<boolean> {
    return this.#acls.remove(rule, options);
  }

  /** The rules as the answering node has applied them. Superusers only. */
  listAcls(options: CallOptions = {}): Promise<readonly AclRule[]> {
    return this.#acls.list(options);
  }

  /** AlreadyExistsError if it exists; InvalidArgumentError for a bad name or size. Size 0 or unset: the broker's default. */
  createTopic(name: string, options: { readonly messageBytesMax?: number } & CallOptions = {}): Promise<void> {
    return this.#client.createTopic(name, options);
  }

  /** NotFoundError if there is no such topic. */
  deleteTopic(name: string, options: CallOptions = {}): Promise<void> {
    return this.#client.deleteTopic(name, options);
  }

  listTopics(options: CallOptions = {}): Promise<readonly TopicInfo[]> {
    return this.#client.listTopics(options);
  }

  /** NotFoundError if there is no such topic. */
  describeTopic(name: string, options: CallOptions = {}): Promise<TopicInfo> {
    return this.#client.describeTopic(name, options);
  }

  /**
   * Creates a consumer group on `topic`, starting at `start` (default earliest; an offset or
   * a time picks the first message made visible then). AlreadyExistsError if it exists.
   */
  async createGroup(group: string, topic: string, options: { readonly start?: GroupStart; readonly settings?: GroupSettings } & CallOptions = {}): Promise<void> {
    await this.#groups.create(group, topic, options);
  }

  /** NotFoundError if there is no such group. */
  deleteGroup(group: string, options: CallOptions = {}): Promise<void> {
    return this.#groups.delete(group, options);
  }

  /** Groups with their committed offsets and lag, as the answering node has applied them. */
  listGroups(options: CallOptions = {}): Promise<readonly GroupInfo[]> {
    return this.#groups.list(options);
  }

  describeGroup(group: string, options: CallOptions = {}): Promise<GroupInfo> {
    return this.#groups.describe(group, options);
  }

  /**
   * Moves a group's committed and next offset, as Kafka's `kafka-consumer-groups
   * --reset-offsets`: to the earliest offset the cluster still keeps (after retention
   * deleted older ones, consume answers OutOfRangeError until the group is moved), to the
   * topic's end, to an offset, or to the first offset made visible at or after a time. What
   * the group had delivered and not finished is forgotten: offsets from the target on go
   * out again as first deliveries, those below count as consumed.
   *
   * FailedPreconditionError while messages are in flight to the group's consumers (stop
   * them first) or dead ones wait for their dead-letter copy, unless `force` (the consumers'
   * later acks of what they held then finish nothing, or finish a redelivery of it).
   * OutOfRangeError (with `earliestOffset`) for an offset retention deleted;
   * InvalidArgumentError for one past the topic's end; NotFoundError for an unknown group
   * or a group whose topic was deleted.
   */
  resetGroup(group: string, options: { readonly to: GroupResetTarget; readonly force?: boolean } & CallOptions): Promise<GroupResetResult> {
    return this.#groups.reset(group, options);
  }

  /** The raw group calls (ack, nack, extend by offset), for tools and tests. */
  get groupCalls(): GroupCalls {
    return this.#groups;
  }

  /** Closes the connections; calls still waiting fail with ClientClosedError. */
  close(): Promise<void> {
    return this.#client.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
