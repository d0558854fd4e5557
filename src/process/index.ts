/**
 * Running real processes from the outside, on 127.0.0.1: free ports, Node.js child
 * processes with their output, a cluster's node processes, and waits with deadlines. The
 * bench (src/bench), the jepsen-style harness and the integration tests' harness
 * (test/harness) all use this one copy.
 */
export { ephemeralPort, freePorts, NODE_PORT_RANGE, type PortRange } from './free-ports.js';
export { LocalNodes, loopbackMembers, membersFlag, NODE_READY_LINE, portOf, type LocalNodesOptions, type LoopbackMember } from './local-nodes.js';
export { forwardLines, NodeProcess, OutputLog, type LineListener, type ProcessExit, type SpawnOptions } from './node-process.js';
export { killAllChildren, liveChildPids, trackChild } from './process-reaper.js';
export { sleep, waitUntil, WaitTimeoutError, withTimeout, type WaitOptions } from './wait.js';
export { hostCpuShares, parseHostCpu, readHostCpu, type HostCpuShares, type HostCpuTicks } from './host-cpu.js';
export { LOOP_DELAY_INTERVAL_MS, LOOP_DELAY_RESOLUTION_MS, readLoopDelayLines, startLoopDelayRecorder, STALL_MS, summarizeLoopDelay, type LoopDelayLine, type LoopDelayRecorder, type LoopDelaySummary } from './loop-delay.js';
