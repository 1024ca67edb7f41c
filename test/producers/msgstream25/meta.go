package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/msgpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/milvus-io/milvus/pkg/v2/proto/etcdpb"
	"github.com/milvus-io/milvus/pkg/v2/proto/indexpb"
)

// tombstone is what rootcoord's SuffixSnapshot writes instead of deleting a key (2.0–2.6.14).
var tombstone = []byte{0xE2, 0x9B, 0xBC}

// meta writes the etcd keys a 2.5 cluster keeps, with Milvus's own etcdpb/indexpb messages. Rootcoord keys go
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

func (m *meta) snapshotProto(ctx context.Context, ts uint64, key string, value proto.Message) error {
	b, err := proto.Marshal(value)
	if err != nil {
		return err
	}
	return m.snapshotSave(ctx, ts, map[string][]byte{key: b})
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
	return m.snapshotProto(ctx, ts, dbKey(db.id), &etcdpb.DatabaseInfo{
		Name: db.name, Id: db.id, State: etcdpb.DatabaseState_DatabaseCreated, CreatedTime: uint64(time.Now().UnixNano()),
	})
}

func collKey(c *collection) string {
	return fmt.Sprintf("root-coord/database/collection-info/%d/%d", c.db.id, c.id)
}

// collectionInfo is what MarshalCollectionModel stores: a schema stub without fields (they have keys of their own).
func collectionInfo(c *collection, state etcdpb.CollectionState) *etcdpb.CollectionInfo {
	starts := make([]*commonpb.KeyDataPair, 0, len(c.pchannels))
	for i, p := range c.pchannels {
		starts = append(starts, &commonpb.KeyDataPair{Key: p, Data: c.startPositions[i]})
	}
	return &etcdpb.CollectionInfo{
		ID: c.id,
		Schema: &schemapb.CollectionSchema{
			Name: c.name, AutoID: c.schema.AutoID, EnableDynamicField: c.schema.EnableDynamicField, DbName: c.db.name,
		},
		CreateTime:           c.createTs,
		VirtualChannelNames:  c.vchannels,
		PhysicalChannelNames: c.pchannels,
		ShardsNum:            int32(len(c.vchannels)),
		StartPositions:       starts,
		ConsistencyLevel:     c.consistency,
		State:                state,
		DbId:                 c.db.id,
		UpdateTimestamp:      c.createTs,
	}
}

func partKey(c *collection, p *partition) string {
	return fmt.Sprintf("root-coord/partitions/%d/%d", c.id, p.id)
}

func partitionInfo(c *collection, p *partition, state etcdpb.PartitionState) *etcdpb.PartitionInfo {
	return &etcdpb.PartitionInfo{
		PartitionID: p.id, PartitionName: p.name, PartitionCreatedTimestamp: p.createTs, CollectionId: c.id, State: state,
	}
}

func fieldKey(c *collection, f *schemapb.FieldSchema) string {
	return fmt.Sprintf("root-coord/fields/%d/%d", c.id, f.FieldID)
}

// createCollection follows create_collection_task.go: the collection as Creating with its partitions and fields at
// the create ts, datacoord's channel checkpoints at the start positions, then the collection again as Created.
func (m *meta) createCollection(ctx context.Context, c *collection) error {
	kvs := map[string][]byte{}
	add := func(key string, v proto.Message) error {
		b, err := proto.Marshal(v)
		kvs[key] = b
		return err
	}
	if err := add(collKey(c), collectionInfo(c, etcdpb.CollectionState_CollectionCreating)); err != nil {
		return err
	}
	for _, p := range c.partitions {
		if err := add(partKey(c, p), partitionInfo(c, p, etcdpb.PartitionState_PartitionCreated)); err != nil {
			return err
		}
	}
	for _, f := range c.schema.Fields {
		if err := add(fieldKey(c, f), f); err != nil {
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
	return m.snapshotProto(ctx, c.createTs, collKey(c), collectionInfo(c, etcdpb.CollectionState_CollectionCreated))
}

func (m *meta) setCollectionState(ctx context.Context, ts uint64, c *collection, state etcdpb.CollectionState) error {
	return m.snapshotProto(ctx, ts, collKey(c), collectionInfo(c, state))
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

func (m *meta) savePartition(ctx context.Context, ts uint64, c *collection, p *partition, state etcdpb.PartitionState) error {
	return m.snapshotProto(ctx, ts, partKey(c, p), partitionInfo(c, p, state))
}

func (m *meta) saveIndex(ctx context.Context, c *collection, idx *indexpb.FieldIndex) error {
	b, err := proto.Marshal(idx)
	if err != nil {
		return err
	}
	return m.putPlain(ctx, fmt.Sprintf("field-index/%d/%d", c.id, idx.GetIndexInfo().GetIndexID()), b)
}
