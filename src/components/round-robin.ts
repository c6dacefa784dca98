/**
 * `msgflo/RoundRobin`: the marker of a round-robin binding in a system graph
 * (each message to exactly one participant of the target role, failures to
 * `deadletter`). Run inside NoFlo, it passes packets on.
 */
import noflo from 'noflo';

/** Build the component. */
export function getComponent(): InstanceType<typeof noflo.Component> {
  const component = new noflo.Component({
    description: 'Round-robin binding: each message to one participant of the target role; failures to deadletter',
    icon: 'random',
    inPorts: { in: { datatype: 'all' } },
    outPorts: { out: { datatype: 'all' }, deadletter: { datatype: 'all' } },
  });
  component.process((input, output) => {
    output.sendDone({ out: input.getData('in') });
  });
  return component;
}
