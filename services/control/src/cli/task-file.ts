import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { pb } from '@cdc/shared';
import { cdcDefinition } from './client.js';
import { CliError } from './errors.js';

const PACKAGE = 'cdc.v1';

/** A message as read from the file, before it is known to match the proto. */
type Message = Record<string, unknown>;

interface FieldDescriptor {
  name: string;
  label: string;
  type: string;
  typeName: string;
}
interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType: MessageDescriptor[];
  options: { mapEntry?: boolean } | null;
}
interface EnumDescriptor {
  value: { name: string }[];
}

/**
 * Reads a task file (YAML or JSON; "-" is stdin) and checks it against the proto: a CreateTaskRequest
 * (`task_id`, `spec`, `start_paused`), or a bare TaskSpec (`source`, `target`, `scope`, ...). Field names are the
 * proto names or their lowerCamelCase JSON names; enums take their full name or the short one (`kafka`,
 * `MQ_TYPE_KAFKA`); 64-bit integers may be quoted. Unknown fields are errors, not silently dropped. Error messages
 * name the field, never its value (task files hold secrets).
 */
export function readTaskFile(path: string): pb.CreateTaskRequest {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    throw new CliError('INVALID_ARGUMENT', `${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text, { intAsBigInt: true, prettyErrors: false });
  } catch (err) {
    const first = (err as Error).message.split('\n')[0] ?? 'not YAML or JSON';
    throw new CliError('INVALID_ARGUMENT', `${path}: ${first}`);
  }
  const fail = (where: string, message: string): never => {
    throw new CliError('INVALID_ARGUMENT', `${path}: ${where}: ${message}`);
  };
  if (!isPlainObject(doc)) return fail('(top level)', 'must be a mapping');
  const bareSpec = !('spec' in doc) && ('source' in doc || 'target' in doc || 'scope' in doc);
  // Checked field by field against the descriptors the generated types come from.
  return bareSpec
    ? { spec: normalizeMessage(messageType('TaskSpec'), doc, 'spec', fail) }
    : normalizeMessage(messageType('CreateTaskRequest'), doc, '', fail);
}

type Fail = (where: string, message: string) => never;

function messageType(name: string): MessageDescriptor {
  const def = cdcDefinition()[`${PACKAGE}.${name}`] as { type?: MessageDescriptor } | undefined;
  if (def?.type === undefined) throw new Error(`unknown message type ${name}`);
  return def.type;
}

function enumValues(name: string): string[] {
  const def = cdcDefinition()[`${PACKAGE}.${name}`] as { type?: EnumDescriptor } | undefined;
  return (def?.type?.value ?? []).map((v) => v.name);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const camel = (s: string): string => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const join = (base: string, key: string): string => (base === '' ? key : `${base}.${key}`);

function normalizeMessage(
  type: MessageDescriptor,
  value: unknown,
  path: string,
  fail: Fail,
): Message {
  if (!isPlainObject(value)) return fail(path || '(top level)', 'must be a mapping');
  const out: Message = {};
  for (const [key, v] of Object.entries(value)) {
    const f = type.field.find((x) => x.name === key || camel(x.name) === key);
    if (f === undefined)
      return fail(
        join(path, key),
        `unknown field (expected one of: ${type.field.map((x) => x.name).join(', ')})`,
      );
    if (v === null || v === undefined) continue;
    out[f.name] = normalizeField(type, f, v, join(path, f.name), fail);
  }
  return out;
}

function normalizeField(
  parent: MessageDescriptor,
  f: FieldDescriptor,
  v: unknown,
  path: string,
  fail: Fail,
): unknown {
  if (f.label === 'LABEL_REPEATED') {
    const entry = parent.nestedType.find((n) => n.name === f.typeName && n.options?.mapEntry);
    if (entry !== undefined) {
      if (!isPlainObject(v)) return fail(path, 'must be a mapping');
      const valueField = entry.field.find((x) => x.name === 'value');
      if (valueField === undefined) return fail(path, 'bad map type');
      return Object.fromEntries(
        Object.entries(v).map(([k, item]) => [
          k,
          normalizeSingle(entry, valueField, item, `${path}.${k}`, fail),
        ]),
      );
    }
    if (!Array.isArray(v)) return fail(path, 'must be a list');
    return v.map((item, i) => normalizeSingle(parent, f, item, `${path}[${i}]`, fail));
  }
  return normalizeSingle(parent, f, v, path, fail);
}

function normalizeSingle(
  parent: MessageDescriptor,
  f: FieldDescriptor,
  v: unknown,
  path: string,
  fail: Fail,
): unknown {
  switch (f.type) {
    case 'TYPE_MESSAGE': {
      const nested = parent.nestedType.find((n) => n.name === f.typeName);
      return normalizeMessage(nested ?? messageType(f.typeName), v, path, fail);
    }
    case 'TYPE_ENUM':
      return enumValue(f.typeName, v, path, fail);
    case 'TYPE_STRING':
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'bigint') return String(v);
      return fail(path, 'must be a string');
    case 'TYPE_BOOL':
      if (typeof v === 'boolean') return v;
      return fail(path, 'must be true or false');
    case 'TYPE_BYTES':
      if (typeof v === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) return v;
      return fail(path, 'must be a base64 string');
    case 'TYPE_INT64':
    case 'TYPE_UINT64':
    case 'TYPE_INT32':
    case 'TYPE_UINT32':
      return integer(f.type, v, path, fail);
    default:
      return fail(path, `unsupported field type ${f.type}`);
  }
}

function integer(type: string, v: unknown, path: string, fail: Fail): string | number {
  const text =
    typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v))
      ? String(v)
      : typeof v === 'string'
        ? v.trim()
        : '';
  const unsigned = type.startsWith('TYPE_U');
  if (!(unsigned ? /^\d+$/ : /^-?\d+$/).test(text))
    return fail(path, unsigned ? 'must be a non-negative integer' : 'must be an integer');
  const n = BigInt(text);
  const bits = type.endsWith('64') ? 64n : 32n;
  const max = unsigned ? (1n << bits) - 1n : (1n << (bits - 1n)) - 1n;
  if (n > max || n < -(1n << (bits - 1n))) return fail(path, 'is out of range');
  return bits === 64n ? n.toString() : Number(n);
}

function enumValue(typeName: string, v: unknown, path: string, fail: Fail): string {
  const names = enumValues(typeName);
  const prefix = commonPrefix(names);
  if (typeof v === 'string') {
    const upper = v.trim().toUpperCase().replace(/-/g, '_');
    const hit = names.find((n) => n === upper || n === `${prefix}${upper}`);
    if (hit !== undefined && !hit.endsWith('_UNSPECIFIED')) return hit;
  }
  const choices = names
    .filter((n) => !n.endsWith('_UNSPECIFIED'))
    .map((n) => n.slice(prefix.length).toLowerCase());
  return fail(path, `must be one of: ${choices.join(', ')}`);
}

/** "MQ_TYPE_KAFKA", "MQ_TYPE_PULSAR" → "MQ_TYPE_". */
function commonPrefix(names: string[]): string {
  const first = names[0] ?? '';
  let end = first.length;
  for (const n of names) while (!n.startsWith(first.slice(0, end))) end--;
  const p = first.slice(0, end);
  return p.slice(0, p.lastIndexOf('_') + 1);
}
