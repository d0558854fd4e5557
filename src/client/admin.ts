import { GroupCalls, type GroupInfo, type GroupSettings, type GroupStart } from './groups.js';
import { LogClient, type CallOptions, type LogClientOptions, type TopicInfo } from './log-client.js';

/**
 * Topic administration, like Kafka's Admin client. Creating and deleting go to the leader
 * and answer once committed; listing and describing answer from whichever node is asked,
 * as far as it has applied the log.
 */
export class Admin {
  readonly #client: LogClient;
  readonly #groups: GroupCalls;

  constructor(options: LogClientOptions) {
    this.#client = new LogClient(options);
    this.#groups = new GroupCalls(this.#client);
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
