// msgflo/Coordinator: see src/components/coordinator.ts.
module.exports = require('../dist/src/components/coordinator');
