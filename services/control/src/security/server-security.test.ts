import { describe, expect, it } from 'vitest';
import { ConfigError, loadControlConfig } from '../config.js';
import { loadServerSecurity } from './server-security.js';

const API = 'api-token-0123456789abcdef';
const WORKER = 'worker-token-0123456789abcdef';

/** Loads with an in-memory file system: path → content; a missing path fails like a missing file. */
function load(env: Record<string, string>, files: Record<string, string> = {}) {
  const { config } = loadControlConfig({ CONTROL_DEV_EPHEMERAL_KEY: 'true', ...env });
  return loadServerSecurity(config, (path) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return Buffer.from(text);
  });
}

function issues(
  env: Record<string, string>,
  files: Record<string, string> = {},
): readonly string[] {
  try {
    load(env, files);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

describe('loadServerSecurity', () => {
  it('is open and plaintext by default', () => {
    const s = load({});
    expect(s.tls).toBe('off');
    expect(s.api).toBeUndefined();
    expect(s.worker).toBeUndefined();
  });

  it('guards each service with its own tokens, from env or file', () => {
    const s = load(
      { CONTROL_API_TOKENS: `${API},${API}2`, CONTROL_WORKER_TOKENS_FILE: '/run/w' },
      { '/run/w': `# workers\n${WORKER}\n` },
    );
    expect(s.api?.tokens.size).toBe(2);
    expect(s.api?.tokens.matches(API)).toBe(true);
    expect(s.api?.tokens.matches(WORKER)).toBe(false);
    expect(s.worker?.tokens.matches(WORKER)).toBe(true);
    expect(s.worker?.tokens.matches(API)).toBe(false);
  });

  it('refuses token settings that would leave a service open or weak, never quoting a token', () => {
    const only = issues({ CONTROL_API_TOKENS: API });
    expect(only).toEqual([expect.stringMatching(/set together/)]);
    const shared = issues({ CONTROL_API_TOKENS: API, CONTROL_WORKER_TOKENS: API });
    expect(shared).toEqual([expect.stringMatching(/worker token must differ/)]);
    const short = issues({ CONTROL_API_TOKENS: `${API},abc`, CONTROL_WORKER_TOKENS: WORKER });
    expect(short).toEqual(['CONTROL_API_TOKENS: token #2 is shorter than 16 characters']);
    for (const message of [...only, ...shared, ...short]) expect(message).not.toContain(API);
    expect(() =>
      load({ CONTROL_WORKER_TOKENS: WORKER, CONTROL_WORKER_TOKENS_FILE: '/run/w' }),
    ).toThrow(/set CONTROL_WORKER_TOKENS or CONTROL_WORKER_TOKENS_FILE, not both/);
  });

  it('names the variable and path of an unreadable or non-PEM TLS file', () => {
    expect(
      issues(
        { CONTROL_TLS_CERT_FILE: '/tls/crt', CONTROL_TLS_KEY_FILE: '/tls/key' },
        {
          '/tls/crt': 'not a certificate',
        },
      ),
    ).toEqual(['CONTROL_TLS_KEY_FILE: cannot read /tls/key (ENOENT)']);
    const garbage = issues(
      {
        CONTROL_TLS_CERT_FILE: '/tls/crt',
        CONTROL_TLS_KEY_FILE: '/tls/key',
        CONTROL_TLS_CLIENT_CA_FILE: '/tls/ca',
      },
      { '/tls/crt': 'x', '/tls/key': 'SECRET-KEY-BYTES', '/tls/ca': 'y' },
    );
    expect(garbage).toEqual([
      'CONTROL_TLS_CERT_FILE: /tls/crt is not a PEM certificate',
      'CONTROL_TLS_KEY_FILE: /tls/key is not a PEM private key',
      'CONTROL_TLS_CLIENT_CA_FILE: /tls/ca is not a PEM certificate',
    ]);
    expect(() => load({ CONTROL_TLS_CERT_FILE: '/tls/crt' })).toThrow(/set together/);
    expect(() => load({ CONTROL_TLS_CLIENT_CA_FILE: '/tls/ca' })).toThrow(/needs server TLS/);
  });
});
