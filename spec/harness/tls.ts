/**
 * Throwaway TLS certificates for broker tests, made with the `openssl` CLI:
 * a CA, a server certificate for `localhost` / 127.0.0.1 and a client
 * certificate, both signed by that CA. RSA 2048, valid for 3 days.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

/** PEM file paths written by {@link makeTlsMaterial}. */
export interface TlsFiles {
  /** CA certificate: trust anchor for both sides. */
  readonly ca: string;
  /** Server certificate, SAN `DNS:localhost, IP:127.0.0.1`, extendedKeyUsage serverAuth. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** Client certificate (CN `noflo-msgflo-test-client`), extendedKeyUsage clientAuth. */
  readonly clientCert: string;
  readonly clientKey: string;
}

const VALIDITY_DAYS = 3;
const OPENSSL_TIMEOUT_MS = 30_000;

/** Extensions per certificate; written to a config file because `-addext` cannot override openssl.cnf defaults. */
const EXTENSIONS = {
  ca: ['basicConstraints = critical, CA:TRUE', 'keyUsage = critical, keyCertSign, cRLSign', 'subjectKeyIdentifier = hash'],
  server: [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth',
    'subjectAltName = DNS:localhost, IP:127.0.0.1',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
  ],
  client: [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = clientAuth',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
  ],
} as const;

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, command);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function openssl(binary: string, args: readonly string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // No config from the environment or /etc: every setting we rely on is on the command line or in our files.
    const env = { ...process.env, OPENSSL_CONF: path.join(cwd, 'openssl.cnf') };
    execFile(binary, args, { cwd, env, timeout: OPENSSL_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`openssl ${args.join(' ')} failed: ${stderr.trim() || err.message}`));
      else resolve();
    });
  });
}

const serial = (): string => `0x${randomBytes(8).toString('hex').replace(/^./, '1')}`;

/**
 * Write a throwaway CA and a server and a client certificate signed by it
 * into `dir` (created if missing) and return the PEM paths. The server
 * certificate is valid for `localhost` and `127.0.0.1`. Keys are mode 0600.
 * Needs the `openssl` CLI; throws with the install command when it is missing.
 * Takes well under a second.
 */
export async function makeTlsMaterial(dir: string): Promise<TlsFiles> {
  const binary = findOnPath('openssl');
  if (binary === undefined) throw new Error('openssl is not installed (not on PATH); run: sudo apt-get install -y openssl');
  const base = path.resolve(dir);
  await fsp.mkdir(base, { recursive: true });
  const file = (name: string): string => path.join(base, name);
  await fsp.writeFile(
    file('openssl.cnf'),
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      ...Object.entries(EXTENSIONS).flatMap(([name, lines]) => [`[${name}_ext]`, ...lines]),
      '',
    ].join('\n'),
  );
  const run = (args: readonly string[]): Promise<void> => openssl(binary, args, base);

  // The three keys in parallel: key generation is nearly all of the time.
  const keys = ['ca', 'server', 'client'] as const;
  await Promise.all(keys.map((name) => run(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', file(`${name}.key`)])));
  await Promise.all(keys.map((name) => fsp.chmod(file(`${name}.key`), 0o600)));

  await run(['req', '-x509', '-new', '-key', file('ca.key'), '-sha256', '-days', String(VALIDITY_DAYS), '-subj', '/CN=noflo-msgflo test CA', '-set_serial', serial(), '-config', file('openssl.cnf'), '-extensions', 'ca_ext', '-out', file('ca.pem')]);

  const issue = async (name: 'server' | 'client', subject: string): Promise<void> => {
    await run(['req', '-new', '-key', file(`${name}.key`), '-subj', subject, '-config', file('openssl.cnf'), '-out', file(`${name}.csr`)]);
    await run([
      'x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-set_serial', serial(),
      '-sha256', '-days', String(VALIDITY_DAYS), '-extfile', file('openssl.cnf'), '-extensions', `${name}_ext`, '-out', file(`${name}.pem`),
    ]);
    await fsp.rm(file(`${name}.csr`), { force: true });
  };
  await Promise.all([issue('server', '/CN=localhost'), issue('client', '/CN=noflo-msgflo-test-client')]);

  return {
    ca: file('ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
  };
}
