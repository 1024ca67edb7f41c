/**
 * SourceReader for a Milvus 2.6 source: reads the raw WAL records of a pchannel (from DumpMessages or straight from
 * the Kafka topic) and hands out records the replicators already understand. Each record's `decoded` is a message in
 * the shapes of the 2.3–2.5 codec (KnownMessage), so DmlChannelReplicator and ReplicateChannelReplicator apply 2.6
 * sources unchanged:
 * - a DML lease gets the data vchannels' changes (Insert, Delete, Create/DropCollection, Create/DropPartition);
 * - the replicate-channel lease reads the control channel's pchannel and gets its operations (databases, indexes,
 *   load/release, flush), ids resolved to names;
 * - a TimeTick is synthesized wherever nothing is pending (no open transaction, no partial chunk run): packs close
 *   there, and only there can a checkpoint land, so a resume never starts inside a transaction.
 * Records that cannot apply carry `{ undecodable }` and are quarantined; an encrypted WAL fails the reader.
 */
import { MsgType, WalAssembler } from '@cdc/shared';
import type { DecodedMessage, KnownMessage, Logger, MsgBase, WalEvent, WalOp } from '@cdc/shared';
import type { ChannelRecord, ReaderStart, SourceReader } from '../../ports/source-reader.js';
import type { Wal26Names } from './wal26-names.js';

export type Wal26Role = 'dml' | 'control';

/** A message to apply, or why the record cannot be (it is quarantined). */
type Decoded = DecodedMessage | { readonly undecodable: string };

export interface Wal26ReaderOptions {
  /** Reads the raw WAL records of the pchannel. */
  readonly inner: SourceReader;
  /** The lease's channel name, given to every record. */
  readonly channel: string;
  readonly role: Wal26Role;
  readonly names: Wal26Names;
  readonly log?: Logger;
  /** Released on close (the names' etcd client). */
  readonly onClose?: () => Promise<void>;
}

const isControlVChannel = (vchannel: string): boolean => vchannel.endsWith('_vcchan');

function base(msgType: number, timestamp: bigint): MsgBase {
  return { msgType, msgId: 0n, timestamp, sourceId: 0n, targetId: 0n, properties: {} };
}

export class Wal26SourceReader implements SourceReader {
  private readonly assembler = new WalAssembler();
  private readonly out: ChannelRecord[] = [];

  constructor(private readonly opts: Wal26ReaderOptions) {}

  open(start: ReaderStart): Promise<void> {
    return this.opts.inner.open(start);
  }

  compareIds(a: Uint8Array, b: Uint8Array): number {
    return this.opts.inner.compareIds(a, b);
  }

  async close(): Promise<void> {
    await this.opts.inner.close();
    await this.opts.onClose?.();
  }

  async read(
    maxRecords: number,
    maxWaitMs: number,
    signal?: AbortSignal,
  ): Promise<ChannelRecord[]> {
    const deadline = Date.now() + Math.max(0, maxWaitMs);
    while (this.out.length === 0) {
      const left = deadline - Date.now();
      const raw = await this.opts.inner.read(maxRecords, Math.max(0, left), signal);
      for (const r of raw) {
        const props = Object.fromEntries(
          Object.entries(r.headers).flatMap(([k, v]) => {
            const one = Array.isArray(v) ? (v as unknown[])[0] : v;
            return one === undefined
              ? []
              : [
                  [
                    k,
                    typeof one === 'string' ? one : Buffer.from(one as Uint8Array).toString('utf8'),
                  ],
                ];
          }),
        );
        const events = this.assembler.push({ id: r.msgId, payload: r.value, properties: props });
        for (const e of events) await this.emit(e, r);
      }
      if (raw.length === 0 || left <= 0 || signal?.aborted) break;
    }
    return this.out.splice(0, maxRecords);
  }

  private push(
    source: ChannelRecord,
    id: Uint8Array,
    decoded: Decoded,
    value = source.value,
  ): void {
    const record = {
      channel: this.opts.channel,
      msgId: id,
      value,
      headers: source.headers,
      publishTimeMs: source.publishTimeMs,
    };
    this.out.push(
      'undecodable' in decoded
        ? { ...record, rejected: decoded.undecodable }
        : { ...record, decoded },
    );
  }

  private async emit(e: WalEvent, source: ChannelRecord): Promise<void> {
    switch (e.kind) {
      case 'safe':
        this.push(source, e.id, { type: 'TimeTick', base: base(MsgType.TimeTick, e.timeTick) });
        return;
      case 'dropped':
        this.opts.log?.debug({ reason: e.reason, messages: e.messages }, 'WAL messages dropped');
        return;
      case 'corrupt':
        this.push(source, e.id, { undecodable: e.reason }, e.payload);
        return;
      case 'message':
        break;
    }
    const m = e.message;
    const control = isControlVChannel(m.props.vchannel);
    if (m.kind === 'skip') {
      if (m.lossy && (this.opts.role === 'control') === control)
        this.push(source, e.id, { undecodable: m.reason }, e.payload);
      return;
    }
    if (m.kind === 'change') {
      // WAL time ticks are replaced by the synthesized ones (a WAL tick may fall inside a transaction).
      if (this.opts.role === 'dml' && !control && m.message.type !== 'TimeTick')
        this.push(source, e.id, m.message, e.payload);
      return;
    }
    if (m.kind === 'op' && this.opts.role === 'control') {
      for (const d of await this.translate(m.op, m.props.timeTick))
        this.push(source, e.id, d, e.payload);
    }
  }

  /** A 2.6 operation in the replicate-channel shapes, its ids resolved to names. */
  private async translate(op: WalOp, tt: bigint): Promise<Decoded[]> {
    const { names } = this.opts;
    const gone = (what: string): Decoded[] => {
      this.opts.log?.debug(
        { op: op.type, what },
        'WAL operation on an object that no longer exists; skipped',
      );
      return [];
    };
    switch (op.type) {
      case 'CreateDatabase':
        return [
          {
            type: 'CreateDatabase',
            base: base(MsgType.CreateDatabase, tt),
            dbName: op.dbName,
            properties: op.properties,
          },
        ];
      case 'DropDatabase':
        return [{ type: 'DropDatabase', base: base(MsgType.DropDatabase, tt), dbName: op.dbName }];
      case 'AlterDatabase':
        return [
          {
            type: 'AlterDatabase',
            base: base(MsgType.AlterDatabase, tt),
            dbName: op.dbName,
            dbId: op.dbId.toString(),
            properties: op.properties,
            deleteKeys: [],
          },
        ];
      case 'AlterCollection':
        return [
          {
            undecodable: `AlterCollection (${op.paths.join(', ') || 'no fields'}) of collection ${op.collectionId} is not applied in API mode: change the target collection by hand (adding a field needs a Milvus 2.6 target)`,
          },
        ];
      default:
        break;
    }
    const c = await names.collection(op.collectionId);
    if (c === undefined) return gone(`collection ${op.collectionId}`);
    const on = { dbName: c.db, collectionName: c.name };
    switch (op.type) {
      case 'CreateIndex': {
        const field = c.fields.get(op.fieldId);
        if (field === undefined) return gone(`field ${op.fieldId}`);
        names.rememberIndex(op.collectionId, op.indexId, { field, name: op.indexName });
        return [
          {
            type: 'CreateIndex',
            base: base(MsgType.CreateIndex, tt),
            ...on,
            fieldName: field,
            indexName: op.indexName,
            extraParams: op.indexParams,
          },
        ];
      }
      case 'DropIndex': {
        const out: KnownMessage[] = [];
        for (const id of op.indexIds) {
          const idx = await names.index(op.collectionId, id);
          if (idx !== undefined)
            out.push({
              type: 'DropIndex',
              base: base(MsgType.DropIndex, tt),
              ...on,
              fieldName: idx.field,
              indexName: idx.name,
            });
        }
        return out;
      }
      case 'AlterIndex':
        return op.indexes.map((i) => ({
          type: 'AlterIndex',
          base: base(MsgType.AlterIndex, tt),
          ...on,
          indexName: i.indexName,
          extraParams: i.params,
          deleteKeys: [],
        }));
      case 'LoadCollection':
        return [
          {
            type: 'LoadCollection',
            base: base(MsgType.LoadCollection, tt),
            ...on,
            replicaNumber: op.replicaNumber,
            resourceGroups: [],
            refresh: false,
            loadFields: [],
            skipLoadDynamicField: false,
            loadParams: {},
          },
        ];
      case 'ReleaseCollection':
        return [{ type: 'ReleaseCollection', base: base(MsgType.ReleaseCollection, tt), ...on }];
      case 'Flush':
        return [
          { type: 'Flush', base: base(MsgType.Flush, tt), dbName: c.db, collectionNames: [c.name] },
        ];
    }
  }
}
