const noflo = require('noflo');

exports.getComponent = () => {
  const component = new noflo.Component({
    description: 'Add an exclamation mark to a string',
    inPorts: { in: { datatype: 'string' } },
    outPorts: { out: { datatype: 'string' } },
  });
  return component.process((input, output) => {
    output.sendDone({ out: `${input.getData('in')}!` });
  });
};
