import type { Logger } from './logger.js';

/** Exit code of a process that refuses to start on its configuration (sysexits EX_CONFIG). */
export const EX_CONFIG = 78;

/** Invalid configuration: every problem found, each naming its variable (never a secret value). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly issues: readonly string[]) {
    super(`invalid configuration: ${issues.join('; ')}`);
  }
}

/** A variable that was renamed; the former name is still read for one release, with a warning. */
export interface RenamedVariable {
  readonly name: string;
  readonly formerly: string;
}

/**
 * `env` with every renamed variable under its current name: the current name wins, a former name alone is taken
 * over. `deprecations` has one sentence per former name that was set, for the start-up log.
 */
export function withRenamedVariables(
  env: Readonly<Record<string, string | undefined>>,
  renames: readonly RenamedVariable[],
): { env: Record<string, string | undefined>; deprecations: string[] } {
  const out: Record<string, string | undefined> = { ...env };
  const deprecations: string[] = [];
  for (const { name, formerly } of renames) {
    const old = env[formerly];
    if (old === undefined) continue;
    if (env[name] === undefined) {
      out[name] = old;
      deprecations.push(
        `${formerly} is deprecated: set ${name} instead (${formerly} is read until the next release)`,
      );
    } else {
      deprecations.push(`${formerly} is deprecated and ignored: ${name} is set`);
    }
  }
  return { env: out, deprecations };
}

/**
 * The configuration `load` returns, or, when it throws a ConfigError, every issue logged and the process ended with
 * EX_CONFIG before anything started. Both services start this way.
 */
export function configOrExit<T>(
  load: () => T,
  log: Logger,
  exit: (code: number) => never = (code) => process.exit(code),
): T {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const issue of err.issues) log.fatal({ issue }, 'invalid configuration');
    return exit(EX_CONFIG);
  }
}
