import { listOpt, flagOpt, stringOpt, taskIdArg, type Command } from '../command.js';
import { usage } from '../errors.js';
import { jsonText } from '../format.js';
import { verifyView } from '../views.js';

/** Exit code when the comparison ran and differences remain (errors keep 1 and 2). */
export const EXIT_DIFFERENCES = 3;
/** A whole-task comparison can take minutes; without --timeout the call gets this deadline. */
const VERIFY_TIMEOUT_MS = 30 * 60_000;

/** "db.collection" (or "collection" in the default database) → the API's CollectionName. */
export function parseCollection(text: string): { database: string; collection: string } {
  const parts = text.split('.');
  if (parts.length > 2 || parts.some((p) => p === ''))
    throw usage('--collection takes DATABASE.COLLECTION or COLLECTION (default database)');
  const [first = '', second] = parts;
  return second === undefined
    ? { database: '', collection: first }
    : { database: first, collection: second };
}

export const verify: Command = {
  name: 'verify',
  args: 'ID [--repair] [--collection DB.NAME ...] [--max-keys N]',
  summary: `compare source and target row by row (keys and content); --repair re-copies what differs (exit ${EXIT_DIFFERENCES} when differences remain)`,
  options: {
    repair: { type: 'boolean' },
    collection: { type: 'string', multiple: true },
    'max-keys': { type: 'string' },
  },
  async run(ctx) {
    const taskId = taskIdArg(ctx);
    const maxText = stringOpt(ctx, 'max-keys') ?? '0';
    const maxKeys = Number(maxText);
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 0)
      throw usage('--max-keys must be a non-negative integer');
    const res = await ctx.client.call(
      'VerifyTask',
      {
        task_id: taskId,
        collections: listOpt(ctx, 'collection').map(parseCollection),
        repair: flagOpt(ctx, 'repair'),
        max_keys_reported: maxKeys,
      },
      stringOpt(ctx, 'timeout') === undefined ? VERIFY_TIMEOUT_MS : undefined,
    );
    ctx.print(ctx.output === 'json' ? jsonText(res) : verifyView(res));
    return res['clean'] ? 0 : EXIT_DIFFERENCES;
  },
};
