/**
 * The `event` field of the node's lines that a program may act on or count: readers (the
 * cluster's relay, dashboards, `jq`) match these, never the message text, which is for people.
 */
export const LogEvent = {
  configWarning: 'config-warning',
  logCreated: 'log-created',
  recoveryTailCut: 'recovery-tail-cut',
  recoveryIndexRebuilt: 'recovery-index-rebuilt',
  recoveryDamageCut: 'recovery-damage-cut',
  recoveryEntriesLost: 'recovery-entries-lost',
  /** The entries recovery lost are held again: the node votes and campaigns again. */
  repaired: 'repaired',
  logDamageOnRead: 'log-damage-on-read',
  /** The role or the known leader changed; fields `leader` (or null). */
  roleChanged: 'role-changed',
  /** The node serves clients (the end of a start); fields `clientAddress`, `peerAddress`. */
  serving: 'serving',
  httpServing: 'http-serving',
  /** TLS certificates loaded (at start) or reloaded (SIGHUP); fields `subject`, `validTo`. */
  tlsLoaded: 'tls-loaded',
  /** A reload (SIGHUP) failed: the node keeps the certificates it had; field `reason`. */
  tlsReloadFailed: 'tls-reload-failed',
  /** The users file was loaded (at start) or reloaded (SIGHUP); fields `file`, `users` (how many). */
  usersLoaded: 'users-loaded',
  /** A users file reload (SIGHUP) failed: the node keeps the users it had; field `reason`. */
  usersReloadFailed: 'users-reload-failed',
  /** A client call was refused as unauthenticated; fields `peer`, `user` (or null), `kind`. Never a password. */
  clientRefused: 'client-refused',
  /** A client call was refused by the ACLs; fields `user`, `operation`, `resource`. Logged once a minute per user, operation and resource. */
  permissionDenied: 'permission-denied',
  /** The ACL rules: fields `rules` (how many), `enforced` (whether clients are authenticated, so the rules apply). */
  aclsLoaded: 'acls-loaded',
  snapshotLoaded: 'snapshot-loaded',
  snapshotWritten: 'snapshot-written',
  snapshotInstalled: 'snapshot-installed',
  snapshotSent: 'snapshot-sent',
  snapshotSendFailed: 'snapshot-send-failed',
  snapshotReceived: 'snapshot-received',
  snapshotRefused: 'snapshot-refused',
  snapshotTransferEnded: 'snapshot-transfer-ended',
  retentionDeleted: 'retention-deleted',
  diskGuardRefusing: 'disk-guard-refusing',
  diskGuardAccepting: 'disk-guard-accepting',
  diskUsageUnreadable: 'disk-usage-unreadable',
  diskUsageReadable: 'disk-usage-readable',
  peerConnected: 'peer-connected',
  peerLost: 'peer-lost',
  /** A peer refused our stream (we dial it). */
  peerRefused: 'peer-refused',
  /** We refused or ended a peer's stream (it dials us). */
  peerStreamRefused: 'peer-stream-refused',
  messageDropped: 'message-dropped',
  /** The membership changed: a peer link was added or closed. */
  peerAdded: 'peer-added',
  peerRemoved: 'peer-removed',
  /** A configuration change was made (members add, promote, remove) or took effect here. */
  membershipChanged: 'membership-changed',
  /** A peer speaking for a member from another data directory than the one recorded (a wiped disk) was refused. */
  memberIncarnationRefused: 'member-incarnation-refused',
  /** A node bootstrapping on a new data directory asks its members whether they knew another under its id: waiting, confirmed. */
  bootstrapCheck: 'bootstrap-check',
  /** The node stops on its own: a storage failure, a broken invariant, a duplicate id. */
  failed: 'failed',
  shuttingDown: 'shutting-down',
  stopped: 'stopped',
} as const;
export type LogEvent = (typeof LogEvent)[keyof typeof LogEvent];
