/**
 * The Python the tests run their Python participant with: Debian's
 * `/usr/bin/python3` with `paho-mqtt` (package `python3-paho-mqtt`), which
 * the tests install as root, as the brokers are (see ./brokers), and
 * otherwise fail on, naming the command to run. Never skipped.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { installDebianPackages } from './brokers';
import { FIXTURES } from './participants';

/** Debian's Python 3: the one `python3-paho-mqtt` installs for. */
export const PYTHON = '/usr/bin/python3';
const PACKAGES = ['python3', 'python3-paho-mqtt'] as const;

/** The Python participant, standing in for msgflo-python: `repeat.py ROLE [COMPONENT]`. */
export const PYTHON_PARTICIPANT = path.join(FIXTURES, 'polyglot', 'repeat.py');

function hasPaho(): boolean {
  return spawnSync(PYTHON, ['-c', 'import paho.mqtt.client'], { stdio: 'ignore' }).status === 0;
}

let installation: Promise<void> | undefined;

/**
 * {@link PYTHON}, once it can import paho-mqtt.
 *
 * @throws naming the packages to install, when missing and not root; or when the install did not help
 */
export async function pythonWithPaho(): Promise<string> {
  if (hasPaho()) {
    return PYTHON;
  }
  if (process.getuid?.() !== 0) {
    throw new Error(`${PYTHON} cannot import paho.mqtt (the Python participant's MQTT client); run: sudo apt-get install -y ${PACKAGES.join(' ')}`);
  }
  installation ??= installDebianPackages(PACKAGES);
  await installation;
  if (!hasPaho()) {
    throw new Error(`${PYTHON} still cannot import paho.mqtt after apt-get install ${PACKAGES.join(' ')}`);
  }
  return PYTHON;
}
