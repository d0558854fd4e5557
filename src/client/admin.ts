import { LogClient, type LogClientOptions, type TopicInfo } from './log-client.js';

/**
 * Topic administration, like Kafka's Admin client. Creating and deleting go to the leader
 * and answer once committed; listing and describing answer from whichever node is asked,
 * as far as it has applied the log.
 */
export class Admin {
  readonly #client: LogClient;

  constructor(options: LogClientOptions) {
    this.#client = new LogClient(options);
  }

  /** AlreadyExistsError if it exists; InvalidArgumentError for a bad name or size. Size 0 or unset: the broker's default. */
  createTopic(name: string, options: { readonly maxMessageBytes?: number } = {}): Promise<void> {
    return this.#client.createTopic(name, options);
  }

  /** NotFoundError if there is no such topic. */
  deleteTopic(name: string): Promise<void> {
    return this.#client.deleteTopic(name);
  }

  listTopics(): Promise<readonly TopicInfo[]> {
    return this.#client.listTopics();
  }

  /** NotFoundError if there is no such topic. */
  describeTopic(name: string): Promise<TopicInfo> {
    return this.#client.describeTopic(name);
  }

  close(): void {
    this.#client.close();
  }
}
