import { type Command } from '../command.js';
import { usage } from '../errors.js';
import { jsonText } from '../format.js';

export const reseal: Command = {
  name: 'reseal',
  args: '',
  summary:
    'seal every task secret under the current key (after adding a new key first to CONTROL_SECRET_KEYS on every control replica)',
  async run(ctx) {
    if (ctx.positionals.length > 0)
      throw usage(`unexpected argument "${ctx.positionals[0] ?? ''}"`);
    const res = await ctx.client.call('ResealSecrets', {});
    if (ctx.output === 'json') ctx.print(jsonText(res));
    else
      ctx.print(
        `resealed ${String(res.resealed)} of ${String(res.tasks)} tasks under the current key`,
      );
    return 0;
  },
};
