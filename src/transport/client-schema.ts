// Generated from client.proto by hand; test/transport/schema-sync.test.ts keeps the two equal.
// Embedded so that the compiled code (dist/) needs no .proto file beside it.
export const CLIENT_PROTO = `
// The client API (quorumlog client port).
//
// The readable source of truth for client-schema.ts, which embeds this text so the
// compiled code needs no file next to it; test/transport/schema-sync.test.ts keeps the two
// equal.
//
// Errors are gRPC statuses (see grpc-status.ts): not the leader -> UNAVAILABLE with
// trailing metadata leader-id / leader-address when known; bad input -> INVALID_ARGUMENT;
// unknown -> NOT_FOUND; full queue -> RESOURCE_EXHAUSTED; timed out waiting for commit ->
// DEADLINE_EXCEEDED (the write may or may not commit). Every error status also carries
// quorumlog-error: the node's error code, so a client can tell "not the leader, nothing
// was written" from "lost leadership while the write waited".
//
// Indexes and terms are uint64 on the wire and JS numbers below 2^53 in memory.
syntax = "proto3";

package quorumlog.client;

service Client {
  // Appends the records as consecutive entries; answers once all are committed.
  rpc Append(AppendRequest) returns (AppendResponse);
  // Committed records from an index, up to max_bytes of payload (at least one if any).
  rpc Read(ReadRequest) returns (ReadResponse);
  // Read, then more as they are committed, until the client cancels or the server closes.
  rpc Follow(ReadRequest) returns (stream ReadResponse);
  rpc Status(StatusRequest) returns (NodeStatus);
  // Moves leadership to another node; answers once it leads.
  rpc Transfer(TransferRequest) returns (TransferResponse);

  // The broker (topics and producers). Writes go to the leader and answer once committed
  // and applied; reads are served from the asked node's applied state. A broker refusal is
  // INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS or FAILED_PRECONDITION, with quorumlog-error
  // naming it: unknownProducer, outOfOrderSequence or duplicateTooOld for a producer.
  rpc CreateTopic(CreateTopicRequest) returns (CreateTopicResponse);
  rpc DeleteTopic(DeleteTopicRequest) returns (DeleteTopicResponse);
  rpc ListTopics(ListTopicsRequest) returns (ListTopicsResponse);
  rpc DescribeTopic(DescribeTopicRequest) returns (TopicInfo);
  // Grants a producer id (the log index of the grant), for idempotent produce.
  rpc InitProducer(InitProducerRequest) returns (InitProducerResponse);
  // Appends messages to a topic as one batch. With a producer id, a retry of a batch
  // already written answers with its original offsets (duplicate = true).
  rpc Produce(ProduceRequest) returns (ProduceResponse);
  // Messages of a topic from an offset, up to max_bytes of payload (at least one if any).
  rpc Fetch(FetchRequest) returns (FetchResponse);
}

message AppendRequest {
  repeated bytes records = 1;
}

message AppendResponse {
  uint64 first_index = 1;
  uint64 last_index = 2;
}

message ReadRequest {
  // 1 or more.
  uint64 from = 1;
  // Payload bytes per response, 1 or more.
  uint32 max_bytes = 2;
}

message Record {
  uint64 index = 1;
  uint64 term = 2;
  bytes payload = 3;
}

message ReadResponse {
  repeated Record records = 1;
  // Where to read next: past the last record returned and any no-op entries after it.
  uint64 next_index = 2;
  uint64 applied_index = 3;
  uint64 first_index = 4;
}

message StatusRequest {}

message FollowerStatus {
  string id = 1;
  uint64 match_index = 2;
  uint64 lag = 3;
  // "probe" or "replicate"
  string state = 4;
}

message NodeStatus {
  string id = 1;
  string cluster_id = 2;
  // "follower", "preCandidate", "candidate" or "leader"
  string role = 3;
  uint64 term = 4;
  // Empty when no leader is known.
  string leader_id = 5;
  string leader_client_address = 6;
  uint64 commit_index = 7;
  uint64 applied_index = 8;
  uint64 first_index = 9;
  uint64 last_index = 10;
  bool voting_blocked = 11;
  // On the leader only.
  repeated FollowerStatus followers = 12;
}

message TransferRequest {
  string to = 1;
}

message TransferResponse {}

message CreateTopicRequest {
  string name = 1;
  // 0: the broker's default (1 MiB).
  uint32 max_message_bytes = 2;
}

message CreateTopicResponse {}

message DeleteTopicRequest {
  string name = 1;
}

message DeleteTopicResponse {}

message ListTopicsRequest {}

message TopicInfo {
  string name = 1;
  uint32 max_message_bytes = 2;
  // The offset the next message will get: the number of messages ever written.
  uint64 next_offset = 3;
}

message ListTopicsResponse {
  repeated TopicInfo topics = 1;
}

message DescribeTopicRequest {
  string name = 1;
}

message InitProducerRequest {}

message InitProducerResponse {
  uint64 producer_id = 1;
}

message MessageHeader {
  string name = 1;
  bytes value = 2;
}

message Message {
  bytes key = 1;
  repeated MessageHeader headers = 2;
  bytes payload = 3;
  // The producer's clock when it created the message.
  uint64 timestamp_ms = 4;
}

enum Acks {
  // Answer once committed (held durably by a majority) and applied: offsets known.
  ACKS_ALL = 0;
  // Answer once the leader's own log holds the entry durably, before replication: log_index
  // only (offsets are assigned at commit). Lost if the leader fails before a majority has it.
  // Only without idempotence (producer_id 0): sequence checks happen at commit, after the answer.
  ACKS_LEADER = 1;
  // Answer once the leader accepted the entry into its log, before anything is durable:
  // log_index only. Only without idempotence.
  ACKS_NONE = 2;
}

message ProduceRequest {
  string topic = 1;
  // 0: no idempotence (no sequence check, a retry may duplicate).
  uint64 producer_id = 2;
  // The producer's sequence number of messages[0] on this topic.
  uint64 first_sequence = 3;
  repeated Message messages = 4;
  Acks acks = 5;
}

message ProduceResponse {
  uint64 first_offset = 1;
  uint32 count = 2;
  // The batch had been written before (a retry): these are its original offsets.
  bool duplicate = 3;
  // The log entry holding the batch (for acks all: the entry first written; for a
  // duplicate answer 0). For acks leader and none the only field set besides count.
  uint64 log_index = 4;
}

message FetchRequest {
  string topic = 1;
  uint64 offset = 2;
  // Payload bytes per response, 1 or more.
  uint32 max_bytes = 3;
}

message FetchedMessage {
  uint64 offset = 1;
  bytes key = 2;
  repeated MessageHeader headers = 3;
  bytes payload = 4;
  uint64 timestamp_ms = 5;
}

message FetchResponse {
  repeated FetchedMessage messages = 1;
  // Where to fetch next.
  uint64 next_offset = 2;
  // The topic's next offset on the node that answered.
  uint64 end_offset = 3;
}
`;
