/* eslint-disable @typescript-eslint/no-explicit-any -- gRPC clients from proto-loader are untyped in tests */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ServiceError } from '@grpc/grpc-js';
import { Queue } from 'bullmq';
import { Etcd3 } from 'etcd3';
import {
  clients,
  ETCD,
  REDIS_URL,
  SECRET_KEY,
  seedSourceMetadata,
  startControl,
  stopControl,
  tcpListener,
  uniq,
  type Clients,
  type ControlProcess,
} from './control-harness.js';

/**
 * Bad input through the public API: one table of malformed requests, each with the gRPC status and message it
 * must get. After every case the service still answers Health and ListTasks is unchanged (no task was created or
 * changed); at the end nothing was written to etcd outside the service's root.
 */
const etcd = new Etcd3({ hosts: ETCD });
const PARENT = `${uniq('badin')}/`;
const ROOT = `${PARENT}root/`;
const SOURCE_ROOT = uniq('badsrc');
const PREFIX = 'srcpfx';
const CH0 = `${PREFIX}-rootcoord-dml_0`;
const QUEUE_PREFIX = uniq('bullbad');
/** Sent as a secret in every spec; must never come back in an error message. */
const SECRET = 'S3cret-Marker-77';
const RUNNING_ID = uniq('base-run');
const PAUSED_ID = uniq('base-paused');
/** Tasks with spec.source.milvus for VerifyTask: the source server down; the target down; both up (real stack). */
const SOURCE_DOWN_ID = uniq('base-srcdown');
const TARGET_DOWN_ID = uniq('base-tgtdown');
const BOTH_UP_ID = uniq('base-bothup');
const SOURCE_MILVUS = 'http://127.0.0.1:19530';
const TARGET_MILVUS = 'http://127.0.0.1:19540';
const MiB = 1024 * 1024;
const huge = (n = MiB): string => 'a'.repeat(n);

let target: Awaited<ReturnType<typeof tcpListener>>;
let control: ControlProcess;
let c: Clients;
let baseline: string[];

/** A valid spec (needs `target` listening); `over` replaces whole sub-objects. */
function spec(over: Record<string, unknown> = {}): Record<string, any> {
  const addr = `127.0.0.1:${target.port}`;
  return {
    source: {
      etcd: { endpoints: [ETCD], root_path: SOURCE_ROOT },
      mq: { type: 'MQ_TYPE_KAFKA', address: addr },
      channel_prefix: PREFIX,
    },
    target: { uri: `http://${addr}`, token: SECRET },
    scope: { include: [{ database: 'newdb', collection: '*' }] },
    ...over,
  };
}
const withSource = (over: Record<string, unknown>): Record<string, any> =>
  spec({ source: { ...spec()['source'], ...over } });
const withTarget = (over: Record<string, unknown>): Record<string, any> =>
  spec({ target: { ...spec()['target'], ...over } });
const withMq = (over: Record<string, unknown>): Record<string, any> =>
  withSource({ mq: { ...spec()['source'].mq, ...over } });
const withEndpoints = (...endpoints: unknown[]): Record<string, any> =>
  withSource({ etcd: { endpoints, root_path: SOURCE_ROOT } });
const withInclude = (...include: unknown[]): Record<string, any> => spec({ scope: { include } });
const create = (s: unknown, taskId: unknown = uniq('bad')): Record<string, unknown> => ({
  task_id: taskId,
  spec: s,
});

// ---- raw protobuf encoding, to send bytes no proto-loader client would produce ----
const varint = (value: number): number[] => {
  const out: number[] = [];
  let n = value;
  while (n > 127) {
    out.push((n & 127) | 128);
    n >>>= 7;
  }
  out.push(n);
  return out;
};
const key = (fieldNo: number, wireType: number): number[] => varint((fieldNo << 3) | wireType);
const msg = (...parts: Buffer[]): Buffer => Buffer.concat(parts);
const ld = (fieldNo: number, body: Buffer): Buffer =>
  Buffer.from([...key(fieldNo, 2), ...varint(body.length), ...body]);
const str = (fieldNo: number, v: string): Buffer => ld(fieldNo, Buffer.from(v));
const vint = (fieldNo: number, n: number): Buffer =>
  Buffer.from([...key(fieldNo, 0), ...varint(n)]);

/** CreateTaskRequest with every required field set and mq.type = `mqType` (an enum number). */
function rawCreate(mqType: number): Buffer {
  const addr = `127.0.0.1:${target.port}`;
  const source = msg(
    ld(1, msg(str(1, ETCD), str(2, SOURCE_ROOT))),
    ld(2, msg(vint(1, mqType), str(2, addr))),
    str(3, PREFIX),
  );
  const scope = ld(1, msg(str(1, 'rawdb'), str(2, '*')));
  return msg(
    str(1, uniq('raw')),
    ld(2, msg(ld(1, source), ld(2, msg(str(1, `http://${addr}`), str(2, SECRET))), ld(3, scope))),
  );
}

type Method =
  | 'CreateTask'
  | 'GetTask'
  | 'ListTasks'
  | 'PauseTask'
  | 'ResumeTask'
  | 'DeleteTask'
  | 'GetTaskPositions'
  | 'ResetTaskPositions'
  | 'ListQuarantine'
  | 'WatchTask'
  | 'VerifyTask';
type Code =
  | 'INVALID_ARGUMENT'
  | 'RESOURCE_EXHAUSTED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'UNAVAILABLE';

interface Case {
  name: string;
  method: Method;
  /** An object for the proto-loader client, or a Buffer sent as the raw request bytes. */
  request: () => unknown;
  code: Code;
  /** For INVALID_ARGUMENT: the field path that the message starts with (and the `cdc-field` trailer holds). */
  field?: string;
  /** A substring of the status message. */
  message: string;
}

const INJECTION_IDS: [string, string][] = [
  ['slash', 'a/b'],
  ['dot-dot', '..'],
  ['single dot', '.'],
  ['colon', 'a:b'],
  ['NUL', 'a\u0000b'],
  ['newline', 'a\nb'],
  ['unicode letters', 'tâsk-ü'],
  ['emoji', 'task-🚀'],
  ['SQL injection', "x'; DROP TABLE tasks;--"],
  ['shell substitution', '$(rm -rf /)'],
  ['path traversal', '../../etc/passwd'],
  ['leading space', ' task'],
  ['65 characters', 'a'.repeat(65)],
];

const invalid = (
  name: string,
  method: Method,
  request: () => unknown,
  field: string,
  message: string,
): Case => ({ name, method, request, code: 'INVALID_ARGUMENT', field, message });

const CASES: Case[] = [
  // ---- every required field missing ----
  invalid('no spec', 'CreateTask', () => create(null), 'spec', 'is required'),
  invalid(
    'no source.etcd',
    'CreateTask',
    () => create(withSource({ etcd: null })),
    'spec.source.etcd.endpoints',
    'needs at least one endpoint',
  ),
  invalid(
    'no source.mq',
    'CreateTask',
    () => create(withSource({ mq: null })),
    'spec.source.mq.type',
    'is required',
  ),
  invalid(
    'no mq.address',
    'CreateTask',
    () => create(withMq({ address: '' })),
    'spec.source.mq.address',
    'is required',
  ),
  invalid(
    'no target',
    'CreateTask',
    () => create(spec({ target: null })),
    'spec.target.uri',
    'is required',
  ),
  invalid(
    'fan-out target without uri',
    'CreateTask',
    () => create(spec({ fan_out: [{ token: SECRET }] })),
    'spec.fan_out[0].uri',
    'is required',
  ),
  invalid(
    'fan-out with initial sync',
    'CreateTask',
    () =>
      create({
        ...withSource({ milvus: { uri: 'http://127.0.0.1:19530' } }),
        fan_out: [{ uri: 'http://127.0.0.1:19550' }],
        initial_sync: { enabled: true },
      }),
    'spec.initial_sync',
    'not available with spec.fan_out',
  ),
  invalid(
    'replicate mode with initial sync',
    'CreateTask',
    () =>
      create({
        ...withSource({ milvus: { uri: 'http://127.0.0.1:19530' } }),
        target: { ...spec()['target'], mode: 'TARGET_MODE_REPLICATE' },
        initial_sync: { enabled: true },
      }),
    'spec.initial_sync',
    'not available with TARGET_MODE_REPLICATE',
  ),
  invalid(
    'source milvus credentials without uri',
    'CreateTask',
    () => create(withSource({ milvus: { token: SECRET } })),
    'spec.source.milvus.uri',
    'is required when credentials are set',
  ),
  invalid(
    'source milvus with a ftp uri',
    'CreateTask',
    () => create(withSource({ milvus: { uri: 'ftp://127.0.0.1:19530' } })),
    'spec.source.milvus.uri',
    'is not supported',
  ),
  invalid(
    'initial sync without the source server',
    'CreateTask',
    () => create(spec({ initial_sync: { enabled: true } })),
    'spec.source.milvus.uri',
    'is required with initial_sync',
  ),
  invalid(
    'initial sync with an earliest start',
    'CreateTask',
    () =>
      create({
        ...withSource({ milvus: { uri: 'http://127.0.0.1:19530' } }),
        initial_sync: { enabled: true },
        start: { kind: 'START_KIND_EARLIEST' },
      }),
    'spec.start.kind',
    'must be START_KIND_LATEST',
  ),
  invalid(
    'initial sync pages beyond the query window',
    'CreateTask',
    () =>
      create({
        ...withSource({ milvus: { uri: 'http://127.0.0.1:19530' } }),
        initial_sync: { enabled: true, batch_rows: 20_000 },
      }),
    'spec.initial_sync.batch_rows',
    'at most 16384',
  ),
  invalid(
    'no scope',
    'CreateTask',
    () => create(spec({ scope: null })),
    'spec.scope.include',
    'needs at least one pattern',
  ),
  invalid('GetTask without id', 'GetTask', () => ({}), 'task_id', 'is required'),
  invalid('PauseTask without id', 'PauseTask', () => ({}), 'task_id', 'is required'),
  invalid('ResumeTask without id', 'ResumeTask', () => ({}), 'task_id', 'is required'),
  invalid('DeleteTask without id', 'DeleteTask', () => ({}), 'task_id', 'is required'),
  invalid('positions without id', 'GetTaskPositions', () => ({}), 'task_id', 'is required'),
  invalid('reset without id', 'ResetTaskPositions', () => ({}), 'task_id', 'is required'),
  invalid('quarantine without id', 'ListQuarantine', () => ({}), 'task_id', 'is required'),
  invalid('watch without id', 'WatchTask', () => ({}), 'task_id', 'is required'),
  invalid(
    'reset without resets',
    'ResetTaskPositions',
    () => ({ task_id: PAUSED_ID, resets: [] }),
    'resets',
    'needs at least one channel',
  ),

  // ---- wrong JSON types through the proto-loader client (coerced by protobufjs, then validated) ----
  invalid(
    'array as task_id',
    'CreateTask',
    () => create(spec(), ['a', 'b']),
    'task_id',
    'must be 1-64 characters',
  ),
  invalid(
    'object as database name',
    'CreateTask',
    () => create(withInclude({ database: {}, collection: '*' })),
    'spec.scope.include[0].database',
    'is not a valid name or pattern',
  ),
  invalid(
    'object as etcd endpoint',
    'CreateTask',
    () => create(withEndpoints({})),
    'spec.source.etcd.endpoints[0]',
    'whitespace',
  ),
  invalid(
    'unknown enum name for mq.type',
    'CreateTask',
    () => create(withMq({ type: 'kafka' })),
    'spec.source.mq.type',
    'is required',
  ),
  invalid(
    'unknown enum number for mq.type',
    'CreateTask',
    () => create(withMq({ type: 99 })),
    'spec.source.mq.type',
    '"99" is not an MqType',
  ),
  invalid(
    'unknown enum number for target.mode',
    'CreateTask',
    () => create(withTarget({ mode: 7 })),
    'spec.target.mode',
    'is not a TargetMode',
  ),
  invalid(
    'unknown enum number for start.kind',
    'CreateTask',
    () => create(spec({ start: { kind: 42 } })),
    'spec.start.kind',
    'is not a StartKind',
  ),
  invalid('negative page_size', 'ListTasks', () => ({ page_size: -1 }), 'page_size', 'at most 500'),
  invalid(
    'huge page_size',
    'ListTasks',
    () => ({ page_size: 1_000_000_000 }),
    'page_size',
    'at most 500',
  ),
  invalid(
    'quarantine page_size 501',
    'ListQuarantine',
    () => ({ task_id: RUNNING_ID, page_size: 501 }),
    'page_size',
    'at most 500',
  ),
  invalid(
    'page_token not base64url',
    'ListTasks',
    () => ({ page_token: '!!' }),
    'page_token',
    'not a token returned by this API',
  ),
  invalid(
    'page_token not canonical',
    'ListTasks',
    () => ({ page_token: 'Zm9v=' }),
    'page_token',
    'not a token returned by this API',
  ),
  invalid(
    'quarantine page_token',
    'ListQuarantine',
    () => ({ task_id: RUNNING_ID, page_token: '%%' }),
    'page_token',
    'not a token returned by this API',
  ),
  invalid(
    'watch interval too small',
    'WatchTask',
    () => ({ task_id: RUNNING_ID, interval_ms: 5 }),
    'interval_ms',
    'between 200 and 60000',
  ),
  invalid(
    'watch interval -1 (uint32 max)',
    'WatchTask',
    () => ({ task_id: RUNNING_ID, interval_ms: -1 }),
    'interval_ms',
    'between 200 and 60000',
  ),

  // ---- raw bytes: wire-level garbage and unknown enum numbers ----
  invalid(
    'raw: mq.type = 99',
    'CreateTask',
    () => rawCreate(99),
    'spec.source.mq.type',
    '"99" is not an MqType',
  ),
  invalid(
    'raw: task_id (string) sent as varint',
    'CreateTask',
    () => vint(1, 5),
    'request',
    'is not a valid protobuf message',
  ),
  invalid(
    'raw: spec (message) sent as fixed64',
    'CreateTask',
    () => Buffer.from([...key(2, 1), 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0]),
    'request',
    'is not a valid protobuf message',
  ),
  invalid(
    'raw: length prefix past the end',
    'CreateTask',
    () => Buffer.from([...key(1, 2), 100, 0x61, 0x62]),
    'request',
    'is not a valid protobuf message',
  ),
  invalid(
    'raw: invalid wire type 7',
    'GetTask',
    () => Buffer.from([...key(5, 7), 1]),
    'request',
    'is not a valid protobuf message',
  ),
  invalid(
    'raw: ListTasks page_size as length-delimited',
    'ListTasks',
    () => Buffer.from([...key(1, 2), 50]),
    'request',
    'is not a valid protobuf message',
  ),
  invalid(
    'raw: string that is not UTF-8',
    'GetTask',
    () => Buffer.from([...key(1, 2), 2, 0xc3, 0x28]),
    'request',
    'not valid UTF-8',
  ),
  invalid(
    'raw: nested field with a wrong wire type',
    'CreateTask',
    () => msg(str(1, 'x'), ld(2, ld(3, ld(1, vint(1, 1))))),
    'request',
    'spec.scope.include.database: wire type 0',
  ),
  invalid(
    'raw: WatchTask garbage',
    'WatchTask',
    () => vint(1, 3),
    'request',
    'is not a valid protobuf message',
  ),

  // ---- 1 MiB strings: rejected with a short message; 5 MiB: RESOURCE_EXHAUSTED ----
  invalid(
    '1 MiB task_id',
    'CreateTask',
    () => create(spec(), huge()),
    'task_id',
    'must be 1-64 characters',
  ),
  invalid('1 MiB GetTask id', 'GetTask', () => ({ task_id: huge() }), 'task_id', 'must be 1-64'),
  invalid(
    '1 MiB database name',
    'CreateTask',
    () => create(withInclude({ database: huge() })),
    'spec.scope.include[0].database',
    'is not a valid name or pattern',
  ),
  invalid(
    '1 MiB etcd endpoint',
    'CreateTask',
    () => create(withEndpoints(`${huge()}:2379`)),
    'spec.source.etcd.endpoints[0]',
    'at most 1024 allowed',
  ),
  invalid(
    '1 MiB target uri',
    'CreateTask',
    () => create(withTarget({ uri: `http://${huge()}:19530` })),
    'spec.target.uri',
    'at most 1024 allowed',
  ),
  invalid(
    '1 MiB kafka address',
    'CreateTask',
    () => create(withMq({ address: `${huge()}:9092` })),
    'spec.source.mq.address',
    'allowed',
  ),
  invalid(
    '1 MiB target token (secret)',
    'CreateTask',
    () => create(withTarget({ token: `${SECRET}${huge()}` })),
    'spec.target.token',
    'at most 4096 allowed',
  ),
  invalid(
    '1 MiB CA PEM',
    'CreateTask',
    () => create(withTarget({ tls: { enabled: true, ca_pem: `-----BEGIN ${huge()}` } })),
    'spec.target.tls.ca_pem',
    'at most 65536 allowed',
  ),
  invalid(
    '1 MiB mapped database',
    'CreateTask',
    () => create(spec({ name_mapping: [{ source_database: huge() }] })),
    'spec.name_mapping[0].source_database',
    'without wildcards',
  ),
  invalid(
    '1 MiB pause reason',
    'PauseTask',
    () => ({ task_id: RUNNING_ID, reason: huge() }),
    'reason',
    'at most 1024 allowed',
  ),
  invalid(
    '1 MiB reset channel',
    'ResetTaskPositions',
    () => ({ task_id: PAUSED_ID, resets: [{ channel: huge(), start: {} }] }),
    'resets[0].channel',
    'at most 256 allowed',
  ),
  {
    name: '5 MiB task_id',
    method: 'CreateTask',
    request: () => create(spec(), huge(5 * MiB)),
    code: 'RESOURCE_EXHAUSTED',
    message: 'larger than max',
  },
  {
    name: '5 MiB page_token',
    method: 'ListTasks',
    request: () => ({ page_token: huge(5 * MiB) }),
    code: 'RESOURCE_EXHAUSTED',
    message: 'larger than max',
  },

  // ---- injection-like task ids: rejected everywhere, never turned into keys ----
  ...INJECTION_IDS.map(([label, id]) =>
    invalid(
      `task id with ${label}`,
      'CreateTask',
      () => create(spec(), id),
      'task_id',
      /^\.+$/.test(id)
        ? 'cannot consist of dots only'
        : 'must be 1-64 characters of [A-Za-z0-9_.-]',
    ),
  ),
  invalid(
    'GetTask ../../etc/passwd',
    'GetTask',
    () => ({ task_id: '../../etc/passwd' }),
    'task_id',
    'must be 1-64',
  ),
  invalid('PauseTask ..', 'PauseTask', () => ({ task_id: '..' }), 'task_id', 'dots only'),
  invalid('ResumeTask a/b', 'ResumeTask', () => ({ task_id: 'a/b' }), 'task_id', 'must be 1-64'),
  invalid(
    'DeleteTask SQL',
    'DeleteTask',
    () => ({ task_id: "'; DROP TABLE tasks;--", ignore_not_found: true }),
    'task_id',
    'must be 1-64',
  ),
  invalid(
    'positions $(rm -rf /)',
    'GetTaskPositions',
    () => ({ task_id: '$(rm -rf /)' }),
    'task_id',
    'must be 1-64',
  ),
  invalid(
    'reset with newline id',
    'ResetTaskPositions',
    () => ({ task_id: 'a\nb', resets: [{ channel: CH0 }] }),
    'task_id',
    'must be 1-64',
  ),
  invalid(
    'quarantine ../x',
    'ListQuarantine',
    () => ({ task_id: '../x' }),
    'task_id',
    'must be 1-64',
  ),
  invalid(
    'watch ../../etc/passwd',
    'WatchTask',
    () => ({ task_id: '../../etc/passwd' }),
    'task_id',
    'must be 1-64',
  ),
  {
    name: 'GetTask unknown id',
    method: 'GetTask',
    request: () => ({ task_id: 'no-such-task' }),
    code: 'NOT_FOUND',
    message: 'task no-such-task not found',
  },
  {
    name: 'WatchTask unknown id',
    method: 'WatchTask',
    request: () => ({ task_id: 'no-such-task' }),
    code: 'NOT_FOUND',
    message: 'task no-such-task not found',
  },
  {
    name: 'DeleteTask unknown id',
    method: 'DeleteTask',
    request: () => ({ task_id: 'no-such-task' }),
    code: 'NOT_FOUND',
    message: 'not found',
  },

  // ---- collection / database patterns ----
  invalid(
    'regex dot-star collection',
    'CreateTask',
    () => create(withInclude({ database: 'db', collection: 'a.*' })),
    'spec.scope.include[0].collection',
    'is not a valid name or pattern',
  ),
  invalid(
    'regex anchors in database',
    'CreateTask',
    () => create(withInclude({ database: '^db$' })),
    'spec.scope.include[0].database',
    'is not a valid name or pattern',
  ),
  invalid(
    'regex alternation',
    'CreateTask',
    () => create(withInclude({ database: 'db', collection: '(a|b)' })),
    'spec.scope.include[0].collection',
    'is not a valid name or pattern',
  ),
  invalid(
    'regex class in exclude',
    'CreateTask',
    () =>
      create(spec({ scope: { include: [{ database: 'x' }], exclude: [{ database: '[a-z]+' }] } })),
    'spec.scope.exclude[0].database',
    'is not a valid name or pattern',
  ),
  invalid(
    'database name of 256 characters',
    'CreateTask',
    () => create(withInclude({ database: 'd'.repeat(256) })),
    'spec.scope.include[0].database',
    '1-255 characters',
  ),
  invalid(
    'collection name of 256 characters',
    'CreateTask',
    () => create(withInclude({ database: 'db', collection: 'c'.repeat(256) })),
    'spec.scope.include[0].collection',
    '1-255 characters',
  ),
  invalid(
    'empty mapped database',
    'CreateTask',
    () => create(spec({ name_mapping: [{ source_database: '', target_database: 'x' }] })),
    'spec.name_mapping[0].source_database',
    'without wildcards',
  ),
  invalid(
    'too many include patterns',
    'CreateTask',
    () =>
      create(
        spec({
          scope: { include: Array.from({ length: 300 }, (_, i) => ({ database: `d${i}` })) },
        }),
      ),
    'spec.scope.include',
    'at most 256 allowed',
  ),

  // ---- bad URIs ----
  invalid(
    'etcd endpoint with spaces',
    'CreateTask',
    () => create(withEndpoints('not a uri')),
    'spec.source.etcd.endpoints[0]',
    'whitespace',
  ),
  invalid(
    'etcd endpoint http://',
    'CreateTask',
    () => create(withEndpoints('http://')),
    'spec.source.etcd.endpoints[0]',
    'is not a valid address',
  ),
  invalid(
    'etcd endpoint ftp://',
    'CreateTask',
    () => create(withEndpoints('ftp://x:2379')),
    'spec.source.etcd.endpoints[0]',
    'scheme "ftp" is not supported',
  ),
  invalid(
    'etcd endpoint port 70000',
    'CreateTask',
    () => create(withEndpoints('http://127.0.0.1:70000')),
    'spec.source.etcd.endpoints[0]',
    'is not a valid address',
  ),
  invalid(
    'second etcd endpoint broken',
    'CreateTask',
    () => create(withEndpoints(ETCD, 'http://[::1:2379')),
    'spec.source.etcd.endpoints[1]',
    'is not a valid address',
  ),
  invalid(
    'target uri with credentials in it',
    'CreateTask',
    () => create(withTarget({ uri: 'https://root:Milvus-pw-9@127.0.0.1:19540' })),
    'spec.target.uri',
    'must not embed credentials (user:password@host); put them in spec.target.username and spec.target.password, or spec.target.token',
  ),
  invalid(
    'source milvus uri with credentials in it',
    'CreateTask',
    () => create(withSource({ milvus: { uri: 'root:pw@127.0.0.1:19530' } })),
    'spec.source.milvus.uri',
    'must not embed credentials',
  ),
  invalid(
    'etcd endpoint with credentials in it',
    'CreateTask',
    () => create(withEndpoints('http://u:p@127.0.0.1:2379')),
    'spec.source.etcd.endpoints[0]',
    'put them in spec.source.etcd.username and spec.source.etcd.password',
  ),
  invalid(
    'kafka broker with credentials in it',
    'CreateTask',
    () => create(withMq({ address: 'kafka://u:p@127.0.0.1:9092' })),
    'spec.source.mq.address[0]',
    'put them in spec.source.mq.sasl',
  ),
  invalid(
    'target uri ftp://x',
    'CreateTask',
    () => create(withTarget({ uri: 'ftp://x' })),
    'spec.target.uri',
    'scheme "ftp" is not supported',
  ),
  invalid(
    'target uri port 0',
    'CreateTask',
    () => create(withTarget({ uri: 'http://127.0.0.1:0' })),
    'spec.target.uri',
    'port must be 1-65535',
  ),
  invalid(
    'target uri port 70000',
    'CreateTask',
    () => create(withTarget({ uri: 'http://127.0.0.1:70000' })),
    'spec.target.uri',
    'is not a valid address',
  ),
  invalid(
    'target uri http://',
    'CreateTask',
    () => create(withTarget({ uri: 'http://' })),
    'spec.target.uri',
    'is not a valid address',
  ),
  invalid(
    'target uri with a space',
    'CreateTask',
    () => create(withTarget({ uri: 'http://exa mple:19530' })),
    'spec.target.uri',
    'whitespace',
  ),
  invalid(
    'kafka IPv6 without brackets',
    'CreateTask',
    () => create(withMq({ address: '::1:9092' })),
    'spec.source.mq.address[0]',
    'is not a valid address',
  ),
  invalid(
    'kafka second broker port 0',
    'CreateTask',
    () => create(withMq({ address: `127.0.0.1:${target.port},127.0.0.1:0` })),
    'spec.source.mq.address[1]',
    'port must be 1-65535',
  ),
  invalid(
    'kafka broker with space',
    'CreateTask',
    () => create(withMq({ address: 'broker one:9092' })),
    'spec.source.mq.address[0]',
    'whitespace',
  ),
  invalid(
    'pulsar with http scheme',
    'CreateTask',
    () => create(withMq({ type: 'MQ_TYPE_PULSAR', address: 'http://x:6650' })),
    'spec.source.mq.address[0]',
    'scheme "http" is not supported',
  ),

  // ---- start points with inconsistent fields ----
  invalid(
    'TIMESTAMP with 0',
    'CreateTask',
    () => create(spec({ start: { kind: 'START_KIND_TIMESTAMP', timestamp: '0' } })),
    'spec.start.timestamp',
    'is required for START_KIND_TIMESTAMP',
  ),
  invalid(
    'POSITIONS without positions',
    'CreateTask',
    () => create(spec({ start: { kind: 'START_KIND_POSITIONS' } })),
    'spec.start.positions',
    'needs at least one channel',
  ),
  invalid(
    'POSITIONS on an unknown channel',
    'CreateTask',
    () =>
      create(
        spec({
          start: {
            kind: 'START_KIND_POSITIONS',
            positions: { 'other-rootcoord-dml_0': { msg_id: Buffer.alloc(8) } },
          },
        }),
      ),
    'spec.start.positions["other-rootcoord-dml_0"]',
    'is not a channel of prefix',
  ),
  invalid(
    'POSITIONS with a 3-byte Kafka msg_id',
    'CreateTask',
    () =>
      create(
        spec({
          start: {
            kind: 'START_KIND_POSITIONS',
            positions: { [CH0]: { msg_id: Buffer.from([1, 2, 3]), timestamp: '1' } },
          },
        }),
      ),
    `spec.start.positions["${CH0}"].msg_id`,
    'must be 8 bytes',
  ),
  invalid(
    'positions with EARLIEST',
    'CreateTask',
    () =>
      create(
        spec({
          start: { kind: 'START_KIND_EARLIEST', positions: { [CH0]: { msg_id: Buffer.alloc(8) } } },
        }),
      ),
    'spec.start.positions',
    'is only allowed with START_KIND_POSITIONS',
  ),
  invalid(
    'reset: TIMESTAMP with 0',
    'ResetTaskPositions',
    () => ({
      task_id: PAUSED_ID,
      resets: [{ channel: CH0, start: { kind: 'START_KIND_TIMESTAMP' } }],
    }),
    'resets[0].start.timestamp',
    'is required',
  ),
  invalid(
    'reset: POSITIONS without an entry for the channel',
    'ResetTaskPositions',
    () => ({
      task_id: PAUSED_ID,
      resets: [
        {
          channel: CH0,
          start: {
            kind: 'START_KIND_POSITIONS',
            positions: { [`${PREFIX}-rootcoord-dml_1`]: { msg_id: Buffer.alloc(8) } },
          },
        },
      ],
    }),
    'resets[0].start.positions',
    `needs an entry for "${CH0}"`,
  ),
  invalid(
    'reset: unknown kind number',
    'ResetTaskPositions',
    () => ({ task_id: PAUSED_ID, resets: [{ channel: CH0, start: { kind: 9 } }] }),
    'resets[0].start.kind',
    'is not a StartKind',
  ),
  invalid(
    'reset: unknown channel',
    'ResetTaskPositions',
    () => ({ task_id: PAUSED_ID, resets: [{ channel: 'x-rootcoord-dml_0', start: {} }] }),
    'resets[0].channel',
    'is not a channel of task',
  ),
  {
    name: 'reset on a running task',
    method: 'ResetTaskPositions',
    request: () => ({ task_id: RUNNING_ID, resets: [{ channel: CH0, start: {} }] }),
    code: 'FAILED_PRECONDITION',
    message: 'needs a paused task',
  },

  // ---- name mapping conflicts ----
  invalid(
    'two source databases → one target',
    'CreateTask',
    () =>
      create(
        spec({
          scope: { include: [{ database: 'a' }, { database: 'b' }] },
          name_mapping: [
            { source_database: 'a', target_database: 'merged' },
            { source_database: 'b', target_database: 'merged' },
          ],
        }),
      ),
    'spec.name_mapping[1].target_database',
    '"merged" is also the target of spec.name_mapping[0]',
  ),
  invalid(
    'two collections → one target collection',
    'CreateTask',
    () =>
      create(
        spec({
          name_mapping: [{ source_database: 'newdb', collections: { c1: 'same', c2: 'same' } }],
        }),
      ),
    'spec.name_mapping[0].collections["c2"]',
    '"same" is also the target of "c1"',
  ),
  invalid(
    'mapping the same source twice',
    'CreateTask',
    () =>
      create(
        spec({
          name_mapping: [
            { source_database: 'newdb', target_database: 'x1' },
            { source_database: 'newdb', target_database: 'x2' },
          ],
        }),
      ),
    'spec.name_mapping[1].source_database',
    'is mapped twice',
  ),
  {
    name: 'mapping renames onto another task’s database (same target)',
    method: 'CreateTask',
    request: () =>
      create(
        spec({
          scope: { include: [{ database: 'otherdb' }] },
          name_mapping: [{ source_database: 'otherdb', target_database: 'basedb' }],
        }),
      ),
    code: 'ALREADY_EXISTS',
    message: `overlaps basedb.* of task ${RUNNING_ID}`,
  },
  {
    name: 'source scope overlaps another task (same target)',
    method: 'CreateTask',
    request: () => create(withInclude({ database: 'base*', collection: 'c1' })),
    code: 'ALREADY_EXISTS',
    message: `of task ${RUNNING_ID}`,
  },

  // ---- VerifyTask ----
  invalid('verify without id', 'VerifyTask', () => ({}), 'task_id', 'is required'),
  invalid(
    'verify with a path as id',
    'VerifyTask',
    () => ({ task_id: 'a/b' }),
    'task_id',
    'must be 1-64',
  ),
  {
    name: 'VerifyTask unknown id',
    method: 'VerifyTask',
    request: () => ({ task_id: 'no-such-task' }),
    code: 'NOT_FOUND',
    message: 'task no-such-task not found',
  },
  {
    name: 'verify a task without source.milvus',
    method: 'VerifyTask',
    request: () => ({ task_id: RUNNING_ID }),
    code: 'FAILED_PRECONDITION',
    message: `task ${RUNNING_ID} has no spec.source.milvus`,
  },
  invalid(
    'verify: collection without a name',
    'VerifyTask',
    () => ({ task_id: RUNNING_ID, collections: [{ database: 'basedb' }] }),
    'collections[0].collection',
    'is required',
  ),
  invalid(
    'verify: collection name with a quote',
    'VerifyTask',
    () => ({ task_id: RUNNING_ID, collections: [{ database: 'basedb', collection: 'c"1' }] }),
    'collections[0].collection',
    'is not a Milvus name',
  ),
  invalid(
    'verify: database pattern instead of a name',
    'VerifyTask',
    () => ({ task_id: RUNNING_ID, collections: [{ database: 'base*', collection: 'c1' }] }),
    'collections[0].database',
    'is not a Milvus name',
  ),
  invalid(
    'verify: 1 MiB collection name',
    'VerifyTask',
    () => ({ task_id: RUNNING_ID, collections: [{ collection: huge() }] }),
    'collections[0].collection',
    'at most 255 allowed',
  ),
  invalid(
    'verify: 101 collections',
    'VerifyTask',
    () => ({
      task_id: RUNNING_ID,
      collections: Array.from({ length: 101 }, (_, i) => ({
        database: 'basedb',
        collection: `c${i}`,
      })),
    }),
    'collections',
    'at most 100 allowed',
  ),
  invalid(
    'verify: max_keys_reported above 10000',
    'VerifyTask',
    () => ({ task_id: RUNNING_ID, max_keys_reported: 10_001 }),
    'max_keys_reported',
    'must be at most 10000',
  ),
  invalid(
    'verify: collection outside the task scope',
    'VerifyTask',
    () => ({ task_id: RUNNING_ID, collections: [{ database: 'otherdb', collection: 'c1' }] }),
    'collections[0]',
    `otherdb.c1 is not in the scope of task ${RUNNING_ID}`,
  ),
  {
    name: 'verify: source server down',
    method: 'VerifyTask',
    request: () => ({ task_id: SOURCE_DOWN_ID }),
    code: 'UNAVAILABLE',
    message: 'source Milvus 127.0.0.1:1 is unreachable',
  },
  {
    name: 'verify: target server down',
    method: 'VerifyTask',
    request: () => ({ task_id: TARGET_DOWN_ID }),
    code: 'UNAVAILABLE',
    message: 'target Milvus 127.0.0.1:',
  },
  {
    name: 'verify: collection missing on the source',
    method: 'VerifyTask',
    request: () => ({
      task_id: BOTH_UP_ID,
      collections: [{ database: 'verifydb3', collection: 'nope' }],
    }),
    code: 'NOT_FOUND',
    message: 'collections[0]: source collection verifydb3.nope not found',
  },
];

// ---- transport ----

async function callUnary(method: Method, request: unknown): Promise<unknown> {
  const client = c.cdc.raw as any;
  const options = { deadline: Date.now() + 20_000 };
  if (!Buffer.isBuffer(request)) return (c.cdc as any)[method](request);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      `/cdc.v1.CdcService/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      request,
      options,
      (err: Error | null, res: unknown) => {
        if (err) reject(err);
        else resolve(res);
      },
    );
  });
}

/** WatchTask: resolves with the first update (then cancels) or 'end'; rejects with the stream's error. */
function callWatch(request: unknown): Promise<unknown> {
  const client = c.cdc.raw as any;
  const options = { deadline: Date.now() + 20_000 };
  return new Promise((resolve, reject) => {
    const call = Buffer.isBuffer(request)
      ? client.makeServerStreamRequest(
          '/cdc.v1.CdcService/WatchTask',
          (b: Buffer) => b,
          (b: Buffer) => b,
          request,
          options,
        )
      : client.WatchTask(request, options);
    call.on('data', (d: unknown) => {
      resolve(d);
      call.cancel();
    });
    call.on('error', reject);
    call.on('end', () => {
      resolve('end');
    });
  });
}

const invoke = (method: Method, request: unknown): Promise<unknown> =>
  method === 'WatchTask' ? callWatch(request) : callUnary(method, request);

async function snapshot(): Promise<string[]> {
  const page = await c.cdc.ListTasks({ page_size: 500 });
  expect(page.next_page_token).toBe('');
  return (page.tasks as any[]).map((t) => `${t.task_id} ${t.state} ${t.reason}`).sort();
}

beforeAll(async () => {
  target = await tcpListener();
  await seedSourceMetadata(etcd, SOURCE_ROOT, PREFIX, [0, 1]);
  control = await startControl({
    CONTROL_ETCD_ENDPOINTS: ETCD,
    CONTROL_ETCD_ROOT: ROOT,
    CDC_REDIS_URL: REDIS_URL,
    CDC_QUEUE_PREFIX: QUEUE_PREFIX,
    CONTROL_SECRET_KEY: SECRET_KEY,
    CONTROL_RECONCILE_INTERVAL_MS: '300',
    CONTROL_ELECTION_TTL_S: '2',
  });
  c = clients(control.port);
  const running = await c.cdc.CreateTask({
    task_id: RUNNING_ID,
    spec: withInclude({ database: 'basedb', collection: '*' }),
  });
  expect(running.task.state).toBe('TASK_STATE_RUNNING');
  const paused = await c.cdc.CreateTask({
    task_id: PAUSED_ID,
    spec: withInclude({ database: 'pauseddb', collection: '*' }),
    start_paused: true,
  });
  expect(paused.task.channels).toContain(CH0);
  const verifyTasks: [string, string, Record<string, unknown>, Record<string, unknown>][] = [
    [SOURCE_DOWN_ID, 'verifydb1', { uri: 'http://127.0.0.1:1', token: SECRET }, spec()['target']],
    [TARGET_DOWN_ID, 'verifydb2', { uri: SOURCE_MILVUS }, spec()['target']],
    [BOTH_UP_ID, 'verifydb3', { uri: SOURCE_MILVUS }, { uri: TARGET_MILVUS }],
  ];
  for (const [taskId, database, milvus, targetSpec] of verifyTasks)
    await c.cdc.CreateTask({
      task_id: taskId,
      spec: { ...withSource({ milvus }), target: targetSpec, scope: { include: [{ database }] } },
      start_paused: true,
    });
  baseline = await snapshot();
});

afterAll(async () => {
  c.close();
  await stopControl(control);
  const queue = new Queue('cdc-leases', {
    prefix: QUEUE_PREFIX,
    connection: { host: '127.0.0.1', port: 6379 },
  });
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  await etcd.delete().prefix(PARENT);
  await etcd.delete().prefix(`${SOURCE_ROOT}/`);
  etcd.close();
  await target.close();
});

describe('control service: bad input', () => {
  it('has a large table', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(CASES.map((k) => k.name)).size).toBe(CASES.length);
  });

  it.each(CASES)('$method: $name → $code', async (k) => {
    const started = Date.now();
    let err: (ServiceError & { details: string }) | undefined;
    try {
      const res = await invoke(k.method, k.request());
      expect.fail(`expected ${k.code}, got a response: ${JSON.stringify(res).slice(0, 300)}`);
    } catch (e) {
      if (e instanceof Error && e.name === 'AssertionError') throw e;
      err = e as ServiceError & { details: string };
    }
    expect(status[err.code], err.details).toBe(k.code);
    expect(err.details).toContain(k.message);
    if (k.code === 'INVALID_ARGUMENT') {
      expect(k.field).toBeDefined();
      expect(err.details.startsWith(`${k.field ?? ''}: `), err.details).toBe(true);
      expect(err.metadata.get('cdc-field')).toEqual([k.field]);
    }
    // Huge input is never echoed back, nor is a secret.
    expect(err.details.length).toBeLessThan(500);
    expect(err.details).not.toContain(SECRET);
    expect(Date.now() - started).toBeLessThan(15_000);
    // No task was created or changed, and the service still answers.
    expect(await snapshot()).toEqual(baseline);
    expect(await c.health.Check({ service: 'cdc.v1.CdcService' })).toEqual({ status: 'SERVING' });
  });

  it('wrote nothing to etcd outside its root, and no key from a rejected id', async () => {
    // Everything under the parent's name (also "badin-x…" without the slash) must be under the root.
    const keys = await etcd.getAll().prefix(PARENT.slice(0, -1)).keys();
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(k.startsWith(ROOT), k).toBe(true);
    const taskKeys = keys.filter((k) => k.startsWith(`${ROOT}tasks/`));
    expect(taskKeys.sort()).toEqual(
      [PAUSED_ID, RUNNING_ID, SOURCE_DOWN_ID, TARGET_DOWN_ID, BOTH_UP_ID]
        .map((id) => `${ROOT}tasks/${id}`)
        .sort(),
    );
    for (const k of keys)
      for (const [, id] of INJECTION_IDS) expect(k.includes(`/${id}`), k).toBe(false);
    // A traversal that an etcd key layer resolved would land beside or above the root.
    for (const outside of ['etc/passwd', '/etc/passwd', '../', "'; DROP", '$(rm'])
      expect(await etcd.getAll().prefix(outside).count(), outside).toBe(0);
    expect(control.proc.exitCode).toBeNull();
  });
});
