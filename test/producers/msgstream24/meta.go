package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/golang/protobuf/proto"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/milvus-io/milvus-proto/go-api/v2/msgpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// tombstone is what rootcoord's SuffixSnapshot writes instead of deleting a key (2.0–2.6.14).
var tombstone = []byte{0xE2, 0x9B, 0xBC}

// meta writes the etcd keys a 2.4 cluster keeps (values from etcdvalues.go). Rootcoord keys go
// through the SuffixSnapshot layout (the key and `snapshots/{key}_ts{ts}` in one transaction; removal writes the
// tombstone); datacoord keys and the TSO are plain.
type meta struct {
	client *clientv3.Client
	root   string
}

func openMeta(endpoints, root string) (*meta, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(endpoints, ","), DialTimeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	return &meta{client: c, root: root}, nil
}

func (m *meta) close() { _ = m.client.Close() }

// snapshotSave writes rootcoord keys as SuffixSnapshot.MultiSave does: each key and its `_ts` copy, one transaction.
func (m *meta) snapshotSave(ctx context.Context, ts uint64, kvs map[string][]byte) error {
	ops := make([]clientv3.Op, 0, 2*len(kvs))
	for k, v := range kvs {
		ops = append(ops,
			clientv3.OpPut(m.root+"/meta/"+k, string(v)),
			clientv3.OpPut(fmt.Sprintf("%s/meta/snapshots/%s_ts%d", m.root, k, ts), string(v)))
	}
	_, err := m.client.Txn(ctx).Then(ops...).Commit()
	return err
}

func (m *meta) snapshotRemove(ctx context.Context, ts uint64, keys ...string) error {
	kvs := map[string][]byte{}
	for _, k := range keys {
		kvs[k] = tombstone
	}
	return m.snapshotSave(ctx, ts, kvs)
}

func (m *meta) putPlain(ctx context.Context, key string, value []byte) error {
	_, err := m.client.Put(ctx, m.root+"/meta/"+key, string(value))
	return err
}

// saveTso writes the TSO key: 8-byte big-endian UnixNano of the physical part.
func (m *meta) saveTso(ctx context.Context, ts uint64) error {
	b := binary.BigEndian.AppendUint64(nil, (ts>>18)*uint64(time.Millisecond))
	_, err := m.client.Put(ctx, m.root+"/kv/gid/timestamp", string(b))
	return err
}

func dbKey(id int64) string { return fmt.Sprintf("root-coord/database/db-info/%d", id) }

func (m *meta) saveDatabase(ctx context.Context, ts uint64, db *database) error {
	b, err := databaseInfo(db.name, db.id, uint64(time.Now().UnixNano()))
	if err != nil {
		return err
	}
	return m.snapshotSave(ctx, ts, map[string][]byte{dbKey(db.id): b})
}

func collKey(c *collection) string {
	return fmt.Sprintf("root-coord/database/collection-info/%d/%d", c.db.id, c.id)
}

func partKey(c *collection, p *partition) string {
	return fmt.Sprintf("root-coord/partitions/%d/%d", c.id, p.id)
}

func fieldKey(c *collection, f *schemapb.FieldSchema) string {
	return fmt.Sprintf("root-coord/fields/%d/%d", c.id, f.FieldID)
}

// createCollection follows create_collection_task.go: the collection as Creating with its partitions and fields at
// the create ts, datacoord's channel checkpoints at the start positions, then the collection again as Created.
func (m *meta) createCollection(ctx context.Context, c *collection) error {
	kvs := map[string][]byte{}
	add := func(key string, b []byte, err error) error {
		kvs[key] = b
		return err
	}
	b, err := collectionInfo(c, collectionCreating)
	if err := add(collKey(c), b, err); err != nil {
		return err
	}
	for _, p := range c.partitions {
		b, err := partitionInfo(c, p, partitionCreated)
		if err := add(partKey(c, p), b, err); err != nil {
			return err
		}
	}
	for _, f := range c.schema.Fields {
		b, err := proto.Marshal(f)
		if err := add(fieldKey(c, f), b, err); err != nil {
			return err
		}
	}
	if err := m.snapshotSave(ctx, c.createTs, kvs); err != nil {
		return err
	}
	for i, vc := range c.vchannels {
		pos, err := proto.Marshal(&msgpb.MsgPosition{ChannelName: vc, MsgID: c.startPositions[i], Timestamp: c.createTs})
		if err != nil {
			return err
		}
		if err := m.putPlain(ctx, "datacoord-meta/channel-removal/"+vc, []byte("non-removed")); err != nil {
			return err
		}
		if err := m.putPlain(ctx, "datacoord-meta/channel-cp/"+vc, pos); err != nil {
			return err
		}
	}
	return m.saveCollection(ctx, c.createTs, c, collectionCreated)
}

func (m *meta) saveCollection(ctx context.Context, ts uint64, c *collection, state collectionState) error {
	b, err := collectionInfo(c, state)
	if err != nil {
		return err
	}
	return m.snapshotSave(ctx, ts, map[string][]byte{collKey(c): b})
}

// removeCollection is the garbage collector's end of a drop: partitions, fields, then the collection, as tombstones.
func (m *meta) removeCollection(ctx context.Context, ts uint64, c *collection) error {
	keys := []string{}
	for _, p := range c.partitions {
		keys = append(keys, partKey(c, p))
	}
	for _, f := range c.schema.Fields {
		keys = append(keys, fieldKey(c, f))
	}
	if err := m.snapshotRemove(ctx, ts, keys...); err != nil {
		return err
	}
	for _, vc := range c.vchannels {
		if err := m.putPlain(ctx, "datacoord-meta/channel-removal/"+vc, []byte("removed")); err != nil {
			return err
		}
	}
	return m.snapshotRemove(ctx, ts, collKey(c))
}

func (m *meta) savePartition(ctx context.Context, ts uint64, c *collection, p *partition, state partitionState) error {
	b, err := partitionInfo(c, p, state)
	if err != nil {
		return err
	}
	return m.snapshotSave(ctx, ts, map[string][]byte{partKey(c, p): b})
}

func (m *meta) saveIndex(ctx context.Context, c *collection, idx *fieldIndex) error {
	b, err := idx.marshal()
	if err != nil {
		return err
	}
	return m.putPlain(ctx, fmt.Sprintf("field-index/%d/%d", c.id, idx.indexID), b)
}
