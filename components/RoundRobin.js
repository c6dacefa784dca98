// msgflo/RoundRobin: see src/components/round-robin.ts.
module.exports = require('../dist/src/components/round-robin');
