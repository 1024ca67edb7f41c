/**
 * Throwaway PKI for TLS tests, made with the openssl CLI in a fresh temp dir at test time (key material is never
 * committed): a CA, a server certificate for 127.0.0.1 and localhost, a client certificate it signed, and a client
 * certificate from another CA that the server must not accept. EC P-256 keys: generated in milliseconds.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** Signed by a CA the server does not trust. */
  readonly strangerCert: string;
  /** That other CA: as a client's CA it trusts none of the servers' certificates. */
  readonly strangerCaCert: string;
  readonly strangerKey: string;
  /** Every line of every private key (the base64 body included), to check they never show up in output. */
  readonly keyLines: () => string[];
  remove(): void;
}

const openssl = (dir: string, ...args: string[]): void => {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
};

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(dir: string, name: string): void {
  openssl(
    dir,
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '1',
    '-subj',
    `/CN=${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
}

function makeLeaf(dir: string, name: string, ca: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(
    dir,
    'req',
    '-new',
    ...EC_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${name}`,
  );
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-days',
    '1',
    '-out',
    `${name}.crt`,
    '-extfile',
    `${name}.ext`,
  );
}

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'cdc-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'stranger-ca');
  makeLeaf(
    dir,
    'server',
    'ca',
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n',
  );
  const client = 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n';
  makeLeaf(dir, 'client', 'ca', client);
  makeLeaf(dir, 'stranger', 'stranger-ca', client);
  const path = (f: string): string => join(dir, f);
  const keys = ['ca.key', 'stranger-ca.key', 'server.key', 'client.key', 'stranger.key'];
  return {
    dir,
    caCert: path('ca.crt'),
    serverCert: path('server.crt'),
    serverKey: path('server.key'),
    clientCert: path('client.crt'),
    clientKey: path('client.key'),
    strangerCert: path('stranger.crt'),
    strangerCaCert: path('stranger-ca.crt'),
    strangerKey: path('stranger.key'),
    keyLines: () =>
      keys
        .flatMap((k) => readFileSync(path(k), 'utf8').split('\n'))
        .filter((l) => l !== '' && !l.startsWith('-----')),
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
