import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { CdcError } from '@cdc/shared';
import type { SecretBinding, SecretBox } from '../tasks/ports.js';

const LEGACY = 'v1';
const CURRENT = 'v2';

interface Key {
  readonly id: string;
  readonly bytes: Buffer;
}

/** A short public name of a key: it says which key sealed a value without saying anything about the key. */
function keyId(key: Buffer): string {
  return createHmac('sha256', key)
    .update('cdc-secret-key-id')
    .digest()
    .subarray(0, 6)
    .toString('base64url');
}

/** Associated data: a sealed value opens only for the task and field it was sealed for. */
function associatedData(b: SecretBinding): Buffer {
  return Buffer.from(`cdc-task-secret\u0000${b.taskId}\u0000${b.field}`, 'utf8');
}

function unreadable(cause?: unknown): CdcError {
  return new CdcError(
    'INTERNAL',
    'opening a sealed secret: no configured key opens it for this task and field (CONTROL_SECRET_KEYS?)',
    { retryable: false, ...(cause === undefined ? {} : { cause }) },
  );
}

/**
 * AES-256-GCM over a key ring: the first key seals, every key opens (rotation: add the new key first, reseal, then
 * drop the old one). Values read "v2.{key id}.{iv}.{tag}.{ciphertext}" (base64url, 12-byte random IV) and are bound
 * to their task and field as associated data, so a sealed value copied into another task or field does not open.
 * "v1.{iv}.{tag}.{ciphertext}" values (one blob per task, before key ids) still open with any key of the ring.
 */
export class AesSecretBox implements SecretBox {
  private readonly keys: readonly Key[];

  constructor(keys: readonly Buffer[]) {
    if (keys.length === 0 || keys.some((k) => k.length !== 32))
      throw new CdcError('INVALID_ARGUMENT', 'secret keys must be 32 bytes each, at least one', {
        retryable: false,
      });
    this.keys = keys.map((bytes) => ({ id: keyId(bytes), bytes }));
  }

  private get current(): Key {
    const key = this.keys[0];
    if (key === undefined) throw unreadable();
    return key;
  }

  seal(plaintext: string, binding: SecretBinding): string {
    const key = this.current;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key.bytes, iv);
    cipher.setAAD(associatedData(binding));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [
      CURRENT,
      key.id,
      iv.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
      ct.toString('base64url'),
    ].join('.');
  }

  open(sealed: string, binding?: SecretBinding): string {
    const parts = sealed.split('.');
    if (parts[0] === LEGACY && parts.length === 4) {
      for (const key of this.keys) {
        const text = decrypt(key.bytes, parts[1], parts[2], parts[3], undefined);
        if (text !== undefined) return text;
      }
      throw unreadable();
    }
    if (parts[0] !== CURRENT || parts.length !== 5 || binding === undefined)
      throw new CdcError('INTERNAL', 'opening a sealed secret: unknown format', {
        retryable: false,
      });
    const key = this.keys.find((k) => k.id === parts[1]);
    const text =
      key === undefined
        ? undefined
        : decrypt(key.bytes, parts[2], parts[3], parts[4], associatedData(binding));
    if (text === undefined) throw unreadable();
    return text;
  }

  isCurrent(sealed: string): boolean {
    return sealed.startsWith(`${CURRENT}.${this.current.id}.`);
  }
}

function decrypt(
  key: Buffer,
  iv: string | undefined,
  tag: string | undefined,
  ct: string | undefined,
  aad: Buffer | undefined,
): string | undefined {
  if (iv === undefined || tag === undefined || ct === undefined) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    if (aad !== undefined) decipher.setAAD(aad);
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([
      decipher.update(Buffer.from(ct, 'base64url')),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    return undefined;
  }
}
