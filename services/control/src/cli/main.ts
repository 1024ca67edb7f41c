#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { CdcClient } from './client.js';
import { parseDuration, type Command, type OptionSpecs } from './command.js';
import { positions, resetPositions } from './commands/positions.js';
import { quarantine } from './commands/quarantine.js';
import { reseal } from './commands/reseal.js';
import { create, get, listTasks, pause, remove, resume } from './commands/tasks.js';
import { verify } from './commands/verify.js';
import { watch } from './commands/watch.js';
import { describeFailure, usage } from './errors.js';

const COMMANDS: readonly Command[] = [
  create,
  listTasks,
  get,
  pause,
  resume,
  remove,
  positions,
  resetPositions,
  quarantine,
  watch,
  verify,
  reseal,
];

const GLOBAL_OPTIONS: OptionSpecs = {
  address: { type: 'string' },
  output: { type: 'string', short: 'o' },
  token: { type: 'string' },
  timeout: { type: 'string' },
  tls: { type: 'boolean' },
  'ca-file': { type: 'string' },
  'cert-file': { type: 'string' },
  'key-file': { type: 'string' },
  'server-name': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

function helpText(): string {
  return [
    'cdcctl: manage Milvus CDC replication tasks over the control service gRPC API',
    '',
    'usage: cdcctl [global flags] COMMAND [args]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name} ${c.args}`.trimEnd() + `\n      ${c.summary}`),
    '',
    'global flags:',
    '  --address HOST:PORT   control service (env CDCCTL_ADDRESS; default 127.0.0.1:50051)',
    '  -o, --output FORMAT   table (default) or json: API field names, every field, 64-bit integers as',
    '                        strings, bytes base64; watch prints one JSON object per line',
    '  --token TOKEN         API token, sent as "authorization: Bearer TOKEN" (prefer env CDCCTL_TOKEN:',
    '                        flags show in ps)',
    '  --timeout DURATION    deadline of each call, e.g. 10s (default 10s; verify 30m; watch streams have none)',
    '  --tls                 use TLS (env CDCCTL_TLS=true), with the system CA roots unless --ca-file',
    '  --ca-file PEM         CA bundle of the control certificate (env CDCCTL_CA_FILE; implies --tls)',
    '  --cert-file PEM       client certificate for mutual TLS, with --key-file PEM (env CDCCTL_CERT_FILE,',
    '                        CDCCTL_KEY_FILE; implies --tls)',
    '  --server-name NAME    name to verify the control certificate against (env CDCCTL_SERVER_NAME)',
    'Environment variables are also read with the older prefix CDC_ (CDC_ADDRESS, CDC_TOKEN, ...).',
    '',
    'exit codes: 0 ok; 2 the request was rejected (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,',
    'FAILED_PRECONDITION, PERMISSION_DENIED, UNAUTHENTICATED) or bad usage; 1 anything else (UNAVAILABLE, ...);',
    '3 verify ran and differences remain.',
    'Errors go to stderr as "error: <STATUS>: <details>".',
  ].join('\n');
}

/** The first positional, skipping values of global flags that take one. */
function commandName(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--') return argv[i + 1];
    if (!a.startsWith('-')) return a;
    const name = a.replace(/^--?/, '');
    const spec = Object.entries(GLOBAL_OPTIONS).find(([k, s]) => k === name || s.short === name);
    if (spec?.[1].type === 'string' && !a.includes('=')) i++;
  }
  return undefined;
}

async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const name = commandName(argv);
  if (name === undefined || name === 'help') {
    process.stdout.write(`${helpText()}\n`);
    return name === undefined && !argv.includes('-h') && !argv.includes('--help') ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) throw usage(`unknown command "${name}"`);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw usage((err as Error).message);
  }
  const { values } = parsed;
  const positionals = parsed.positionals.filter((p, i) => !(i === 0 && p === name));
  if (values['help'] === true) {
    process.stdout.write(`usage: cdcctl ${command.name} ${command.args}\n  ${command.summary}\n`);
    return 0;
  }
  const str = (k: string): string | undefined =>
    typeof values[k] === 'string' ? values[k] : undefined;
  const output = str('output') ?? 'table';
  if (output !== 'table' && output !== 'json') throw usage('--output must be table or json');
  const fromEnv = (name: string): string => env[`CDCCTL_${name}`] || env[`CDC_${name}`] || '';
  const client = new CdcClient({
    address: str('address') ?? (fromEnv('ADDRESS') || '127.0.0.1:50051'),
    token: str('token') ?? fromEnv('TOKEN'),
    timeoutMs: parseDuration('--timeout', str('timeout') ?? '10s'),
    tls: values['tls'] === true || fromEnv('TLS') === 'true',
    caFile: str('ca-file') ?? fromEnv('CA_FILE'),
    certFile: str('cert-file') ?? fromEnv('CERT_FILE'),
    keyFile: str('key-file') ?? fromEnv('KEY_FILE'),
    serverName: str('server-name') ?? fromEnv('SERVER_NAME'),
  });
  try {
    const code = await command.run({
      client,
      output,
      values,
      positionals,
      print: (text) => process.stdout.write(`${text}\n`),
    });
    return code ?? 0;
  } finally {
    client.close();
  }
}

// grpc-js passes an IP address as the TLS server name (--address 127.0.0.1:50051 --tls), which makes Node print
// DEP0123 on stderr. Deprecation notices are for the CLI's developers, not its users: stderr carries errors only.
process.noDeprecation = true;

process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  // A closed pipe (`cdcctl watch ID | head`) ends the command quietly.
  process.exit(err.code === 'EPIPE' ? 0 : 1);
});

run(process.argv.slice(2), process.env).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const { line, exitCode } = describeFailure(err);
    process.stderr.write(`${line}\n`);
    process.exitCode = exitCode;
  },
);
