// Generated from peer.proto by hand; test/transport/schema-sync.test.ts keeps the two equal.
// Embedded so that the compiled code (dist/) needs no .proto file beside it.
export const PEER_PROTO = `
// Node-to-node Raft traffic (quorumlog peer port).
//
// The readable source of truth for peer-schema.ts, which embeds this text so the compiled
// code needs no file next to it; test/transport/schema-sync.test.ts keeps the two equal.
//
// One long-lived client-streaming call per ordered pair of nodes: the sender writes
// batches, the receiver answers only when the stream ends. The receiver sends response
// headers as soon as it accepts the stream (right cluster, known sender), which is how the
// sender learns it is connected. Every batch names the cluster, the sender and the
// receiver; a batch that does not match the stream or the receiver is refused with
// FAILED_PRECONDITION and the stream ends.
//
// Indexes and terms are uint64 on the wire and JS numbers below 2^53 in memory.
syntax = "proto3";

package quorumlog.peer;

service Peer {
  rpc Stream(stream PeerBatch) returns (StreamSummary);
}

message PeerBatch {
  string cluster_id = 1;
  string from = 2;
  string to = 3;
  // Every message has from = PeerBatch.from and to = PeerBatch.to.
  repeated RaftMessage messages = 4;
}

message StreamSummary {
  uint64 received_messages = 1;
}

enum MessageType {
  MESSAGE_TYPE_UNSPECIFIED = 0;
  PRE_VOTE = 1;
  VOTE = 2;
  PRE_VOTE_RESP = 3;
  VOTE_RESP = 4;
  APPEND = 5;
  APPEND_RESP = 6;
  HEARTBEAT = 7;
  HEARTBEAT_RESP = 8;
  TIMEOUT_NOW = 9;
}

// One flat message for every type: a field a type does not use stays at its default and
// costs nothing on the wire.
message RaftMessage {
  MessageType type = 1;
  uint64 term = 2;
  // preVote, vote
  uint64 last_index = 3;
  uint64 last_term = 4;
  bool transfer = 5;
  // preVoteResp, voteResp
  bool granted = 6;
  // append
  uint64 prev_index = 7;
  uint64 prev_term = 8;
  repeated Entry entries = 9;
  // append, heartbeat
  uint64 commit = 10;
  // appendResp
  bool success = 11;
  uint64 index = 12;
  uint64 hint_index = 13;
  uint64 hint_term = 14;
  // heartbeat, heartbeatResp
  string context = 15;
}

message Entry {
  uint64 index = 1;
  uint64 term = 2;
  uint32 kind = 3;
  bytes payload = 4;
}
`;
