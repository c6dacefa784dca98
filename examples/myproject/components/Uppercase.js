const noflo = require('noflo');

exports.getComponent = () => {
  const component = new noflo.Component({
    description: 'Upper-case a string',
    inPorts: { in: { datatype: 'string' } },
    outPorts: { out: { datatype: 'string' } },
  });
  return component.process((input, output) => {
    output.sendDone({ out: String(input.getData('in')).toUpperCase() });
  });
};
