import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AesSecretBox } from './aes-secret-box.js';

const a = randomBytes(32);
const b = randomBytes(32);
const pw = { taskId: 't1', field: 'target.password' };

/** A value as the control sealed it before key ids and bindings (one JSON blob per task). */
function legacy(key: Buffer, text: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const ct = Buffer.concat([c.update(text, 'utf8'), c.final()]);
  return ['v1', iv, c.getAuthTag(), ct]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
    .join('.');
}

describe('AesSecretBox', () => {
  it('opens a value only for the task and field it was sealed for', () => {
    const box = new AesSecretBox([a]);
    const sealed = box.seal('s3cret', pw);
    expect(sealed).not.toContain('s3cret');
    expect(box.open(sealed, pw)).toBe('s3cret');
    expect(() => box.open(sealed, { ...pw, taskId: 't2' })).toThrow(/no configured key opens it/);
    expect(() => box.open(sealed, { ...pw, field: 'target.token' })).toThrow(/no configured key/);
  });

  it('seals with the first key, opens with any key of the ring, and says what is not current', () => {
    const old = new AesSecretBox([a]).seal('s3cret', pw);
    const ring = new AesSecretBox([b, a]);
    expect(ring.open(old, pw)).toBe('s3cret');
    expect(ring.isCurrent(old)).toBe(false);
    const fresh = ring.seal('s3cret', pw);
    expect(ring.isCurrent(fresh)).toBe(true);
    expect(new AesSecretBox([b]).open(fresh, pw)).toBe('s3cret');
    expect(() => new AesSecretBox([a]).open(fresh, pw)).toThrow(/no configured key/);
  });

  it('still opens the legacy per-task blob with any key of the ring', () => {
    const blob = legacy(a, '{"target.password":"s3cret"}');
    expect(new AesSecretBox([b, a]).open(blob)).toBe('{"target.password":"s3cret"}');
    expect(new AesSecretBox([b, a]).isCurrent(blob)).toBe(false);
    expect(() => new AesSecretBox([b]).open(blob)).toThrow(/no configured key/);
  });

  it('refuses keys that are not 32 bytes, and an empty ring', () => {
    expect(() => new AesSecretBox([])).toThrow(/32 bytes/);
    expect(() => new AesSecretBox([randomBytes(16)])).toThrow(/32 bytes/);
  });
});
