import { createHash, timingSafeEqual } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';

/** Shortest token accepted: guessable tokens are a configuration error, not a weaker API. */
export const MIN_TOKEN_CHARS = 16;

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * The bearer tokens one kind of caller may present. Only SHA-256 digests are kept; a presented token is hashed and
 * compared with every configured digest by timingSafeEqual, without stopping at the first match, so the time taken
 * says nothing about how much of a token was right (equal-length digests: no length leak either).
 */
export class TokenSet {
  private readonly digests: readonly Buffer[];

  /** `compare` is timingSafeEqual; a test passes a spy to count the comparisons. */
  constructor(
    tokens: readonly string[],
    private readonly compare: (a: Buffer, b: Buffer) => boolean = timingSafeEqual,
  ) {
    if (tokens.length === 0) throw new Error('a token set needs at least one token');
    this.digests = tokens.map(digest);
  }

  get size(): number {
    return this.digests.length;
  }

  matches(presented: string): boolean {
    const d = digest(presented);
    let found = false;
    for (const known of this.digests) found = this.compare(d, known) || found;
    return found;
  }
}

/** Tokens from an env value or a file: separated by commas, whitespace or newlines; `#` starts a comment line. */
export function parseTokenList(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .flatMap((line) => line.split(/[,\s]+/))
    .filter((t) => t !== '');
}

export type PresentedToken =
  | { readonly kind: 'missing' }
  | { readonly kind: 'malformed' }
  | { readonly kind: 'bearer'; readonly token: string };

/** The token of the `authorization: Bearer <token>` metadata entry (scheme case-insensitive, as in RFC 6750). */
export function presentedToken(metadata: Metadata): PresentedToken {
  const values = metadata.get('authorization');
  if (values.length === 0) return { kind: 'missing' };
  const value = values[0];
  if (values.length > 1 || typeof value !== 'string') return { kind: 'malformed' };
  const m = /^Bearer +([^\s]+) *$/i.exec(value);
  return m?.[1] === undefined ? { kind: 'malformed' } : { kind: 'bearer', token: m[1] };
}
