/**
 * True under `npm run test:long` (QUORUMLOG_TEST_LONG=1): suites then add their longer
 * variants (more schedules, every flavour of a crash) to the short ones `npm test` runs.
 */
export const LONG_RUN = process.env['QUORUMLOG_TEST_LONG'] === '1';
