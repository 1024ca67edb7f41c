/**
 * SourceReader over the source proxy's server-streaming `DumpMessages` (Milvus 2.6.15+): the one route to a 2.6
 * pchannel's WAL that works whatever the WAL (Woodpecker, Kafka, Pulsar). Each response is one persisted message
 * `{id, payload, properties}`; the records handed out carry the payload as `value` and the properties as `headers`.
 *
 * Positions: `after X` asks for X itself (`start_message_id` is inclusive) and drops it, so a missing X — deleted by
 * retention — shows as a different first id and fails the reader instead of skipping. `timestamp` and `latest` use
 * `start_timetick` from the beginning of the log. A stream the server ends is reopened after the last id.
 */
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { CdcError, composeTs, isCdcError, parseBase36, tsToUnixMs } from '@cdc/shared';
import type { Logger } from '@cdc/shared';
import type { ChannelRecord, ReaderStart, SourceReader } from '../../ports/source-reader.js';
import { RecordQueue } from '../record-queue.js';
import { compareWalPositions, positionToWalId, walIdToPosition } from './wal-ids.js';
import type { WalName } from './wal-ids.js';

export interface DumpMessagesReaderOptions {
  /** `host:port` of the source proxy. */
  readonly address: string;
  /** The pchannel to read. `channel` of the records is this name. */
  readonly pchannel: string;
  readonly walName: WalName;
  readonly token?: string;
  readonly username?: string;
  readonly password?: string;
  readonly ssl?: boolean;
  readonly logger?: Logger;
  readonly maxQueuedRecords?: number;
  readonly maxQueuedBytes?: number;
  /** Pause before reopening a stream the server ended. Default 500 ms. */
  readonly reopenDelayMs?: number;
}

interface DumpResponse {
  status?: { code?: number; reason?: string } | null;
  message?: { id?: { id?: string }; payload?: Buffer; properties?: Record<string, string> } | null;
}

let dumpMethod: grpc.MethodDefinition<object, DumpResponse> | undefined;

/** MilvusService.DumpMessages, described by the SDK's bundled descriptors (they define it). */
function dumpMessagesMethod(): grpc.MethodDefinition<object, DumpResponse> {
  if (dumpMethod !== undefined) return dumpMethod;
  const require = createRequire(import.meta.url);
  const json = require('@zilliz/milvus2-sdk-node/dist/milvus/proto-json/milvus.js') as {
    default: object;
  };
  const def = protoLoader.fromJSON(json.default, {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const service = def['milvus.proto.milvus.MilvusService'];
  const method =
    service !== undefined && 'DumpMessages' in service ? service['DumpMessages'] : undefined;
  if (method === undefined || !('path' in method))
    throw new CdcError(
      'INTERNAL',
      'the Milvus SDK descriptors have no MilvusService.DumpMessages',
      {
        retryable: false,
      },
    );
  const described: grpc.MethodDefinition<object, object> = method;
  dumpMethod = {
    ...described,
    // protobufjs decodes the response into an object of the shape DumpResponse declares (fields it knows of).
    responseDeserialize: (bytes): DumpResponse => described.responseDeserialize(bytes),
  };
  return dumpMethod;
}

function sourceError(code: grpc.status | undefined, what: string, pchannel: string): CdcError {
  if (code === grpc.status.UNIMPLEMENTED) {
    return new CdcError(
      'FAILED_PRECONDITION',
      `the source proxy has no DumpMessages (it needs Milvus 2.6.15 or later): ${what}`,
      {
        retryable: false,
        details: { channel: pchannel },
      },
    );
  }
  if (
    code === grpc.status.INVALID_ARGUMENT ||
    code === grpc.status.PERMISSION_DENIED ||
    code === grpc.status.UNAUTHENTICATED
  ) {
    return new CdcError('FAILED_PRECONDITION', `DumpMessages on ${pchannel} was refused: ${what}`, {
      retryable: false,
      details: { channel: pchannel },
    });
  }
  return new CdcError('SOURCE_UNAVAILABLE', `DumpMessages on ${pchannel}: ${what}`, {
    retryable: true,
    details: { channel: pchannel },
  });
}

export class DumpMessagesSourceReader implements SourceReader {
  private readonly queue: RecordQueue;
  private client: grpc.Client | undefined;
  private call: grpc.ClientReadableStream<DumpResponse> | undefined;
  private state: 'idle' | 'running' | 'stopped' = 'idle';
  private paused = false;
  /** Id of the last record handed to the queue (string form), to reopen after it. */
  private lastId: string | undefined;
  /** The id the next stream must start with (an `after` start or a reopen); it is dropped, not delivered. */
  private expectFirst: string | undefined;
  private startTimeTick = 0n;
  private reopenTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: DumpMessagesReaderOptions) {
    this.queue = new RecordQueue({
      maxRecords: opts.maxQueuedRecords ?? 1000,
      maxBytes: opts.maxQueuedBytes ?? 16 << 20,
    });
  }

  compareIds(a: Uint8Array, b: Uint8Array): number {
    return compareWalPositions(this.opts.walName, a, b);
  }

  async open(start: ReaderStart): Promise<void> {
    if (this.state !== 'idle')
      throw new CdcError('INTERNAL', `opening DumpMessages reader: reader is ${this.state}`, {
        retryable: false,
      });
    const { walName } = this.opts;
    let first: string;
    switch (start.kind) {
      case 'after':
        first = positionToWalId(walName, start.msgId);
        this.expectFirst = first;
        break;
      case 'timestamp':
      case 'latest':
        first = this.earliestId();
        // A start in the future means "from now": nothing written later can have an older time tick.
        this.startTimeTick = composeTs(
          start.kind === 'latest' ? Date.now() : Math.min(start.unixMs, Date.now()),
        );
        break;
      case 'earliest':
        first = this.earliestId();
        break;
    }
    this.client = new grpc.Client(
      this.opts.address.replace(/^https?:\/\//, ''),
      this.opts.ssl === true ? grpc.credentials.createSsl() : grpc.credentials.createInsecure(),
      { 'grpc.max_receive_message_length': 256 << 20 },
    );
    this.state = 'running';
    this.stream(first);
    // The first response (or failure) tells whether the position exists; wait for it briefly so open() reports it.
    await this.queue.wait(2_000);
    const failure = this.queue.error;
    if (failure !== undefined && this.queue.length === 0) {
      await this.close();
      throw failure;
    }
  }

  /**
   * True when `next` is the message right after `expected` although `expected` itself is gone: only a Kafka WAL's ids
   * (consecutive offsets) say so; resuming there loses nothing.
   */
  private followsDirectly(expected: string, next: string): boolean {
    if (this.opts.walName !== 'Kafka') return false;
    return parseBase36(next, 'message id') === parseBase36(expected, 'message id') + 1n;
  }

  private earliestId(): string {
    if (this.opts.walName !== 'Kafka') {
      throw new CdcError(
        'FAILED_PRECONDITION',
        `reading a ${this.opts.walName} WAL from its beginning needs a message id to start from`,
        { retryable: false },
      );
    }
    return '0';
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    const { token, username, password } = this.opts;
    const credential =
      token ?? (username === undefined ? undefined : `${username}:${password ?? ''}`);
    if (credential !== undefined)
      md.set('authorization', Buffer.from(credential).toString('base64'));
    return md;
  }

  private stream(startId: string): void {
    const { walName, pchannel } = this.opts;
    const client = this.client;
    if (client === undefined) return;
    const method = dumpMessagesMethod();
    const call = client.makeServerStreamRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      {
        pchannel,
        start_message_id: { id: startId, WAL_name: walName },
        start_timetick: this.startTimeTick.toString(),
        end_timetick: '0',
      },
      this.metadata(),
    );
    this.call = call;
    call.on('data', (r: DumpResponse) => {
      this.onResponse(r);
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (this.state === 'stopped' || err.code === grpc.status.CANCELLED) return;
      this.queue.fail(sourceError(err.code, err.details || err.message, pchannel));
    });
    call.on('end', () => {
      if (this.state !== 'running' || this.queue.error !== undefined || this.call !== call) return;
      // The server ended the dump (it reached what it had): ask again after the last record.
      this.reopenTimer = setTimeout(() => {
        if (this.state !== 'running') return;
        const from = this.lastId ?? this.expectFirst;
        if (from === undefined) {
          this.stream(this.earliestId());
          return;
        }
        this.expectFirst = from;
        this.stream(from);
      }, this.opts.reopenDelayMs ?? 500);
    });
  }

  private onResponse(r: DumpResponse): void {
    const { pchannel, walName } = this.opts;
    if (r.status && (r.status.code ?? 0) !== 0) {
      this.queue.fail(sourceError(undefined, r.status.reason ?? 'failed', pchannel));
      this.call?.cancel();
      return;
    }
    const m = r.message;
    const id = m?.id?.id;
    if (m === null || m === undefined || id === undefined) return;
    if (this.expectFirst !== undefined) {
      const expected = this.expectFirst;
      this.expectFirst = undefined;
      if (id === expected) return;
      if (!this.followsDirectly(expected, id)) {
        this.queue.fail(
          new CdcError(
            'FAILED_PRECONDITION',
            `reading ${pchannel}: message ${expected} no longer exists (deleted by retention?); the log now starts at ${id}`,
            { retryable: false, details: { channel: pchannel, expected, first: id } },
          ),
        );
        this.call?.cancel();
        return;
      }
    }
    let record: ChannelRecord;
    try {
      const properties = m.properties ?? {};
      const tt = properties['_tt'];
      record = {
        channel: pchannel,
        msgId: walIdToPosition(walName, id),
        value: new Uint8Array(m.payload ?? Buffer.alloc(0)),
        headers: properties,
        publishTimeMs: tt === undefined ? Date.now() : tsToUnixMs(parseBase36(tt, '_tt')),
      };
    } catch (err) {
      this.queue.fail(isCdcError(err) ? err : sourceError(undefined, String(err), pchannel));
      return;
    }
    this.lastId = id;
    this.queue.push(record);
    if (this.queue.full && !this.paused) {
      this.paused = true;
      this.call?.pause();
    }
  }

  async read(
    maxRecords: number,
    maxWaitMs: number,
    signal?: AbortSignal,
  ): Promise<ChannelRecord[]> {
    if (this.state !== 'running') return [];
    await this.queue.wait(Math.max(0, maxWaitMs), signal);
    if (signal?.aborted || this.state !== 'running') return [];
    const out = this.queue.take(maxRecords);
    const failure = this.queue.error;
    if (out.length === 0 && failure !== undefined) throw failure;
    if (this.paused && this.queue.canResume && failure === undefined) {
      this.paused = false;
      this.call?.resume();
    }
    return out;
  }

  close(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.reopenTimer);
    this.queue.close();
    this.call?.cancel();
    this.client?.close();
    this.client = undefined;
    return Promise.resolve();
  }
}
