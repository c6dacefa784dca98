// Registers this package's components under the `msgflo/` library name that
// MsgFlo system graphs use (NoFlo would otherwise name them `runtime-msgflo/`).
const path = require('path');

module.exports = (loader, done) => {
  loader.registerComponent('msgflo', 'Coordinator', path.join(__dirname, 'components', 'Coordinator.js'));
  loader.registerComponent('msgflo', 'RoundRobin', path.join(__dirname, 'components', 'RoundRobin.js'));
  done();
};
