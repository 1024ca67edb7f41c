import { CdcError } from '@cdc/shared';

/** Errors a person has to act on: the task is paused with the reason instead of retrying forever. */
export function needsPerson(err: unknown): boolean {
  return (
    err instanceof CdcError &&
    [
      'SCHEMA_MISMATCH',
      'FAILED_PRECONDITION',
      'INVALID_ARGUMENT',
      'UNAUTHENTICATED',
      'PERMISSION_DENIED',
    ].includes(err.code)
  );
}
