import { invalidArgument } from '@cdc/shared';

/** Opaque page token of the list RPCs: the last id of the previous page. */
export function encodePageToken(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

/** The id in a page token; INVALID_ARGUMENT naming `field` for anything this API did not hand out. */
export function decodePageToken(token: string, field: string): string {
  if (token === '') return '';
  const id = Buffer.from(token, 'base64url').toString('utf8');
  if (id === '' || encodePageToken(id) !== token)
    throw invalidArgument(field, 'is not a token returned by this API');
  return id;
}
