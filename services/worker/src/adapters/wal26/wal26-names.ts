import type { Etcd3 } from 'etcd3';
import { decodeFieldIndex, fieldIndexKey } from '@cdc/shared';
import type { SourceMetadata } from '@cdc/shared';

export interface CollectionNames {
  readonly db: string;
  readonly name: string;
  readonly fields: ReadonlyMap<bigint, string>;
}

export interface IndexNames {
  readonly field: string;
  readonly name: string;
}

/**
 * Names for the ids a 2.6 message body carries (load config, indexes and flushes name collections and indexes by id
 * only), from the source etcd. Indexes seen being created are remembered, so a later DropIndex resolves even after
 * datacoord collected the index's key.
 */
export class Wal26Names {
  private readonly indexes = new Map<string, IndexNames>();

  constructor(
    private readonly metadata: SourceMetadata,
    private readonly etcd: Etcd3,
    private readonly rootPath: string,
  ) {}

  async collection(id: bigint): Promise<CollectionNames | undefined> {
    const info = await this.metadata.getCollection(id);
    if (info === undefined) return undefined;
    return {
      db: info.dbName || 'default',
      name: info.name,
      fields: new Map(info.schema.fields.map((f) => [f.fieldId, f.name])),
    };
  }

  rememberIndex(collectionId: bigint, indexId: bigint, names: IndexNames): void {
    this.indexes.set(`${collectionId}/${indexId}`, names);
  }

  async index(collectionId: bigint, indexId: bigint): Promise<IndexNames | undefined> {
    const known = this.indexes.get(`${collectionId}/${indexId}`);
    if (known !== undefined) return known;
    const raw = await this.etcd
      .get(`${this.rootPath}/meta/${fieldIndexKey(collectionId, indexId)}`)
      .buffer();
    if (raw === null) return undefined;
    const fi = decodeFieldIndex(new Uint8Array(raw));
    const c = await this.collection(collectionId);
    const field = c?.fields.get(fi.fieldId);
    return field === undefined ? undefined : { field, name: fi.indexName };
  }
}
