/**
 * V8 flags every node process is started with: by `quorumlog cluster`, by `quorumlog bench`'s
 * local cluster, and by the `quorumlog` command itself (its shebang line carries the same
 * flags, so `quorumlog node ...` gets them too; test/node/v8-flags.test.ts keeps the two equal).
 *
 * A node turns over short-lived buffers quickly (requests, peer batches, storage writes). With
 * V8's default sizing its old generation's limit stays just above the ~12 MiB it keeps live, so
 * a leader ran 40-110 full mark-compact collections in 8 s at 1 KiB x 64 in flight
 * (--trace-gc), about a quarter of its CPU. Starting the old generation at 128 MiB leaves one
 * every 20-25 s. Measured side by side (docs/bench.md): leader CPU 40 -> 26-32 us per message,
 * 12.2/12.6/13.0k -> 14.9/15.9/14.3k msg/s, ack p99 18-20 -> 14-16 ms, for about 30-40 MiB
 * more resident memory on the leader.
 */
export const NODE_V8_FLAGS: readonly string[] = ['--initial-old-space-size=128'];
