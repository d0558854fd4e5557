export type { PeerLinkStats, PeerTransport, PeerTransportOptions, SnapshotTransferOptions } from './peer-transport.js';
export type { SnapshotIntake, SnapshotReceiving, SnapshotShipping, SnapshotSource } from './snapshot-shipping.js';
export { startPeerTransport, PEER_TRANSPORT_DEFAULTS, SNAPSHOT_TRANSFER_DEFAULTS } from './start-peer-transport.js';
export { startClientServer, CLIENT_SERVER_DEFAULTS } from './client-server.js';
export { PIPELINED_PENDING_MAX } from './pipelined-stream.js';
export * from './client-codec.js';
export type {
  AppendAcks,
  AppendOutcome,
  BrokerMessageView,
  BrokerService,
  ClientServer,
  FetchOutcome,
  ProduceAcks,
  ProduceInput,
  ProduceOutcome,
  TopicView,
  ClientServerOptions,
  ClientService,
  DiskView,
  FollowerView,
  LogRecord,
  NodeStatusView,
  ReadOutcome,
  AckOutcomeView,
  ConsumeInput,
  LeaveInput,
  ResetGroupInput,
  ResetGroupOutcome,
  DeliveryView,
  GroupService,
  GroupSettingsInput,
  GroupStartView,
  GroupView,
  MemberChangeInput,
  MemberInfo,
  MembershipService,
  MembersView,
} from './client-service.js';
export * from './group-codec.js';
export { codeOfGrpcStatus, ErrorMetadataKey, grpcStatusOf, readErrorCode, toGrpcStatus, type GrpcErrorStatus } from './grpc-status.js';
export { readTlsMaterial, checkTlsMaterial, TlsCertificates, type TlsFiles, type TlsMaterial } from './tls-certificates.js';
export { CertificateName, certificateUris, clientChannelCredentials, memberIdsOf, memberMismatch, PLAINTEXT_PASSWORD_REFUSAL, type ClientAuth, type ClientTlsOptions } from './tls-credentials.js';
export { AuthRefusalKind, clientAuthInterceptor, clientNamesOf, type AuthRefusal, type ClientAuthOptions, type PasswordVerdict } from './client-auth.js';
export { AUTHORIZATION_METADATA_KEY, basicAuthorization } from './basic-authorization.js';
export { ListenError, MalformedMessageError, TlsMaterialError, SnapshotShipmentError, SnapshotShipmentFailure, TransportError } from './errors.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export { PeerCodec, type DecodedPeerBatch } from './peer-codec.js';
export { memberIncarnationRefusal } from './member-incarnation.js';
export type { IncarnationCheckAnswer, IncarnationVerdict } from './incarnation-check.js';
export * from './transaction-codec.js';
export type { CheckSink, CheckView, EndInput, EndOutcome, HalfInput, HalfOutcome, TransactionInfoView, TransactionService, TransactionSourceName, TransactionTopic } from './transaction-service.js';
export {
  BrokerRefusedError,
  type BrokerRefusalCode,
  DeadlineExceededError,
  InternalError,
  InvalidArgumentError,
  MembershipRefusedError,
  NodeError,
  NotFoundError,
  NotLeaderError,
  OutOfRangeError,
  ResourceExhaustedError,
  UnavailableError,
  PermissionDeniedError,
  UnauthenticatedError,
  UnimplementedError,
} from './node-errors.js';
export * from './acl-codec.js';
export type { AclRuleView, AclService } from './client-service.js';
export { type Access, type AccessOperation, type AccessResource, type ClientAuthorizer } from './access-check.js';
export { isHostPort } from './host-port.js';
