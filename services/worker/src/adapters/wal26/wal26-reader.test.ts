import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { CdcError, decodeKafkaMessageId, encodeKafkaMessageId } from '@cdc/shared';
import type { DecodedMessage, SourceMetadata } from '@cdc/shared';
import type { ChannelRecord, SourceReader } from '../../ports/source-reader.js';
import { collectionInfo, silentLogger, testSchema } from '../../testing/fakes.js';
import { Wal26Names } from './wal26-names.js';
import { Wal26SourceReader } from './wal26-reader.js';
import type { Wal26Role } from './wal26-reader.js';

/** The golden 2.6 records (test/fixtures/wal26, written by Milvus's own library) through the worker's 2.6 reader. */
const dir = fileURLToPath(new URL('../../../../../test/fixtures/wal26/', import.meta.url));
const records = JSON.parse(readFileSync(`${dir}records.json`, 'utf8')) as {
  topic: string;
  offset: string;
  headers: Record<string, string>;
  value: string;
}[];

/** A raw reader handing out one topic's records once. */
function rawReader(topic: string): SourceReader {
  const queue: ChannelRecord[] = records
    .filter((r) => r.topic === topic)
    .sort((a, b) => Number(a.offset) - Number(b.offset))
    .map((r) => ({
      channel: topic,
      msgId: encodeKafkaMessageId(BigInt(r.offset)),
      value: new Uint8Array(Buffer.from(r.value, 'base64')),
      headers: r.headers,
      publishTimeMs: 0,
    }));
  return {
    open: () => Promise.resolve(),
    read: (max) => Promise.resolve(queue.splice(0, max)),
    close: () => Promise.resolve(),
    compareIds: (a, b) => Number(decodeKafkaMessageId(a) - decodeKafkaMessageId(b)),
  };
}

/** The source etcd as the names resolver sees it: the collection `shop.items` with its fields. */
function names(): Wal26Names {
  const collectionId = records
    .map((r) => /_(\d+)v\d+$/.exec(r.headers['_vc'] ?? '')?.[1])
    .find((id) => id !== undefined);
  const schema = testSchema('items', []);
  const metadata = {
    getCollection: (id: bigint) =>
      Promise.resolve(
        String(id) === collectionId
          ? collectionInfo({
              id,
              name: 'items',
              dbName: 'shop',
              schema: { ...schema, fields: [...schema.fields] },
            })
          : undefined,
      ),
  } as unknown as SourceMetadata;
  return new Wal26Names(metadata, {} as unknown as Etcd3, 'root');
}

async function readAll(
  role: Wal26Role,
  topic: string,
): Promise<{ out: ChannelRecord[]; error?: unknown }> {
  const reader = new Wal26SourceReader({
    inner: rawReader(topic),
    channel: 'lease',
    role,
    names: names(),
    log: silentLogger(),
  });
  const out: ChannelRecord[] = [];
  try {
    for (;;) {
      const got = await reader.read(7, 0);
      if (got.length === 0) return { out };
      out.push(...got);
    }
  } catch (error) {
    return { out, error };
  }
}

const typesOf = (out: ChannelRecord[]) =>
  out.map((r) => (r.rejected !== undefined ? 'rejected' : (r.decoded?.type ?? 'raw')));

describe('Wal26SourceReader on the golden 2.6 records', () => {
  const dml0 = records[0]?.topic.replace(/_\d+$/, '_0') ?? '';
  const dml1 = dml0.replace(/_0$/, '_1');

  it('gives a DML lease its vchannels changes and a TimeTick wherever nothing is pending', async () => {
    const { out } = await readAll('dml', dml1);
    const types = typesOf(out);
    expect(types).toContain('CreateCollection');
    expect(types).toContain('Insert');
    expect(
      types.every((t) =>
        [
          'CreateCollection',
          'Insert',
          'Delete',
          'TimeTick',
          'CreatePartition',
          'DropPartition',
          'DropCollection',
        ].includes(t),
      ),
    ).toBe(true);
    expect(out.every((r) => r.channel === 'lease')).toBe(true);
  });

  it('stops with FAILED_PRECONDITION at the encrypted record, after everything before it', async () => {
    const { out, error } = await readAll('dml', dml0);
    expect(typesOf(out)).toContain('Insert');
    expect(error).toBeInstanceOf(CdcError);
    expect(error).toMatchObject({ code: 'FAILED_PRECONDITION' });
  });

  it('gives the replicate-channel lease the control channel operations with names, AddField quarantined', async () => {
    const { out } = await readAll('control', dml0);
    const ops = out.flatMap((r) => (r.decoded && r.decoded.type !== 'TimeTick' ? [r.decoded] : []));
    expect(ops.map((o) => o.type)).toEqual([
      'CreateDatabase',
      'CreateIndex',
      'LoadCollection',
      'Flush',
      'ReleaseCollection',
      'DropIndex',
      'DropDatabase',
    ]);
    const index = ops.find(
      (o): o is Extract<DecodedMessage, { type: 'CreateIndex' }> => o.type === 'CreateIndex',
    );
    expect(index).toMatchObject({
      dbName: 'shop',
      collectionName: 'items',
      fieldName: 'vec',
      indexName: 'vec_idx',
    });
    expect(ops.find((o) => o.type === 'DropIndex')).toMatchObject({
      indexName: 'vec_idx',
      fieldName: 'vec',
    });
    const quarantined = out.flatMap((r) => (r.rejected !== undefined ? [r.rejected] : []));
    expect(quarantined.some((q) => q.startsWith('AlterCollection (schema)'))).toBe(true);
  });
});
