import type { ParseArgsConfig } from 'node:util';
import type { CdcClient } from './client.js';
import { usage } from './errors.js';
import type { OutputFormat } from './format.js';

export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** What a command gets: the client, the output format, its own flags and positionals. */
export interface CommandContext {
  readonly client: CdcClient;
  readonly output: OutputFormat;
  readonly values: OptionValues;
  readonly positionals: string[];
  /** Writes one block of text to stdout (a newline is added). */
  readonly print: (text: string) => void;
}

export interface Command {
  readonly name: string;
  /** Arguments after the name, e.g. "ID --channel C". */
  readonly args: string;
  readonly summary: string;
  readonly options?: OptionSpecs;
  /** Resolves to the exit code (0 when omitted). */
  run(ctx: CommandContext): Promise<number | undefined>;
}

/** The single TASK ID positional of most commands. */
export function taskIdArg(ctx: CommandContext): string {
  const [id, ...extra] = ctx.positionals;
  if (id === undefined || id === '') throw usage('missing task ID');
  if (extra.length > 0) throw usage(`unexpected argument "${extra[0] ?? ''}"`);
  return id;
}

export function stringOpt(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function flagOpt(ctx: CommandContext, name: string): boolean {
  return ctx.values[name] === true;
}

export function listOpt(ctx: CommandContext, name: string): string[] {
  const v = ctx.values[name];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** "500ms", "10s", "2m", or a bare number of seconds → ms. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (m === null) throw usage(`${flag} takes a duration such as 500ms, 10s or 2m`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000;
  return Math.round(Number(m[1]) * unit);
}
