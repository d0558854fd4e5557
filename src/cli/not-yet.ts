// `npm start` before the node process exists: say so plainly instead of pretending.
process.stderr.write(
  'quorumlog: the node process and `npm start` arrive with the cluster issue; ' +
    'today the Raft core and the storage engine are here, proven by `npm test`.\n',
);
process.exitCode = 1;
