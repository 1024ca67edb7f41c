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
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/milvus-io/milvus/pkg/v2/proto/etcdpb"
	"github.com/milvus-io/milvus/pkg/v2/proto/indexpb"
	"github.com/milvus-io/milvus/pkg/v2/proto/streamingpb"
)

// meta writes the etcd keys a 2.6 rootcoord/datacoord/streamingcoord keep (2.6.15+ layout: plain keys, no
// SuffixSnapshot copies), with Milvus's own etcdpb/indexpb/streamingpb messages.
type meta struct {
	client *clientv3.Client
	root   string
}

func openMeta(ctx context.Context, endpoints, root string) (*meta, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(endpoints, ","), DialTimeout: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	return &meta{client: c, root: root}, nil
}

func (m *meta) close() { _ = m.client.Close() }

func (m *meta) put(ctx context.Context, key string, value proto.Message) error {
	b, err := proto.Marshal(value)
	if err != nil {
		return err
	}
	_, err = m.client.Put(ctx, m.root+"/meta/"+key, string(b))
	return err
}

func (m *meta) del(ctx context.Context, key string) error {
	_, err := m.client.Delete(ctx, m.root+"/meta/"+key)
	return err
}

// bootstrap writes what a fresh 2.6 cluster has: the default database, the streaming version and the control
// channel's pchannel, and the TSO key.
func (m *meta) bootstrap(ctx context.Context, cchannelPChannel string, ts uint64) error {
	if err := m.put(ctx, "root-coord/database/db-info/1", &etcdpb.DatabaseInfo{
		Name: "default", Id: 1, State: etcdpb.DatabaseState_DatabaseCreated, CreatedTime: uint64(time.Now().UnixNano()),
	}); err != nil {
		return err
	}
	if err := m.put(ctx, "streamingcoord-meta/version", &streamingpb.StreamingVersion{Version: 1}); err != nil {
		return err
	}
	if err := m.put(ctx, "streamingcoord-meta/cchannel", &streamingpb.CChannelMeta{Pchannel: cchannelPChannel}); err != nil {
		return err
	}
	return m.saveTso(ctx, ts)
}

func (m *meta) saveTso(ctx context.Context, ts uint64) error {
	physicalMs := ts >> 18
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, physicalMs*uint64(time.Millisecond))
	_, err := m.client.Put(ctx, m.root+"/kv/gid/timestamp", string(b))
	return err
}

func (m *meta) saveDatabase(ctx context.Context, db *database, state etcdpb.DatabaseState) error {
	return m.put(ctx, fmt.Sprintf("root-coord/database/db-info/%d", db.id), &etcdpb.DatabaseInfo{
		Name: db.name, Id: db.id, State: state, CreatedTime: uint64(time.Now().UnixNano()),
	})
}

func (m *meta) saveCollection(ctx context.Context, c *collection, state etcdpb.CollectionState) error {
	starts := make([]*commonpb.KeyDataPair, 0, len(c.pchannels))
	for i, p := range c.pchannels {
		starts = append(starts, &commonpb.KeyDataPair{Key: p, Data: c.startPositions[i]})
	}
	info := &etcdpb.CollectionInfo{
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
		Properties:           c.schema.Properties,
		DbId:                 c.db.id,
		UpdateTimestamp:      c.createTs,
	}
	if err := m.put(ctx, fmt.Sprintf("root-coord/database/collection-info/%d/%d", c.db.id, c.id), info); err != nil {
		return err
	}
	for _, f := range c.schema.Fields {
		if err := m.saveField(ctx, c, f); err != nil {
			return err
		}
	}
	return nil
}

func (m *meta) saveField(ctx context.Context, c *collection, f *schemapb.FieldSchema) error {
	return m.put(ctx, fmt.Sprintf("root-coord/fields/%d/%d", c.id, f.FieldID), f)
}

func (m *meta) savePartition(ctx context.Context, c *collection, p *partition, state etcdpb.PartitionState) error {
	return m.put(ctx, fmt.Sprintf("root-coord/partitions/%d/%d", c.id, p.id), &etcdpb.PartitionInfo{
		PartitionID: p.id, PartitionName: p.name, PartitionCreatedTimestamp: p.createTs, CollectionId: c.id, State: state,
	})
}

func (m *meta) dropPartition(ctx context.Context, c *collection, p *partition) error {
	return m.del(ctx, fmt.Sprintf("root-coord/partitions/%d/%d", c.id, p.id))
}

func (m *meta) saveIndex(ctx context.Context, c *collection, idx *indexpb.FieldIndex) error {
	return m.put(ctx, fmt.Sprintf("field-index/%d/%d", c.id, idx.GetIndexInfo().GetIndexID()), idx)
}

func (m *meta) dropIndex(ctx context.Context, c *collection, indexID int64) error {
	return m.del(ctx, fmt.Sprintf("field-index/%d/%d", c.id, indexID))
}
