import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { CdcError } from '@cdc/shared';
import type { SecretBox } from '../tasks/ports.js';

const VERSION = 'v1';

/**
 * AES-256-GCM sealing: "v1.{iv}.{tag}.{ciphertext}" (base64url parts, 12-byte random IV). The digest is an
 * HMAC-SHA256 under a key derived from the same secret, so equal specs compare equal without storing them in clear.
 */
export class AesSecretBox implements SecretBox {
  private readonly encKey: Buffer;
  private readonly macKey: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32)
      throw new CdcError('INVALID_ARGUMENT', 'secret key must be 32 bytes', { retryable: false });
    this.encKey = key;
    this.macKey = createHmac('sha256', key).update('cdc-spec-digest').digest();
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv);
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [
      VERSION,
      iv.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
      ct.toString('base64url'),
    ].join('.');
  }

  open(sealed: string): string {
    const [version, iv, tag, ct] = sealed.split('.');
    if (version !== VERSION || iv === undefined || tag === undefined || ct === undefined)
      throw new CdcError('INTERNAL', 'opening sealed secrets: unknown format', {
        retryable: false,
      });
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.encKey, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([
        decipher.update(Buffer.from(ct, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    } catch (cause) {
      throw new CdcError('INTERNAL', 'opening sealed secrets (wrong CONTROL_SECRET_KEY?)', {
        retryable: false,
        cause,
      });
    }
  }

  digest(data: string): string {
    return createHmac('sha256', this.macKey).update(data).digest('base64url');
  }
}
