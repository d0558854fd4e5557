/** The append workload lives in src/bench/ (quorumlog verify-writes runs it too). */
export { AppendWorkload, type AckedRecord, type AppendFate, type BackgroundWrites } from '../../src/bench/append-workload.js';
