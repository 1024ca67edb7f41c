package main

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/golang/protobuf/proto"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus-proto/go-api/v2/msgpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/milvus-io/milvus/pkg/mq/msgstream"
)

func keyValues(m map[string]string) []*commonpb.KeyValuePair {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*commonpb.KeyValuePair, 0, len(m))
	for _, k := range keys {
		out = append(out, &commonpb.KeyValuePair{Key: k, Value: m[k]})
	}
	return out
}

// replicate is what the 2.4/2.5 proxy does after a successful DDL (SendReplicateMessagePack): the request, with its
// MsgBase, produced on the replicate channel with hash value 0.
func (s *session) replicate(ctx context.Context, msg msgstream.TsMsg) error {
	return produce(ctx, s.streams.proxyOps, msg.BeginTs(), msg)
}

func (s *session) createDatabase(ctx context.Context, c command) ([]appended, error) {
	ts := s.tso()
	d := &database{id: s.allocID(), name: c.Db}
	if err := s.meta.saveDatabase(ctx, ts, d); err != nil {
		return nil, err
	}
	s.databases[d.name] = d
	return nil, s.replicate(ctx, &msgstream.CreateDatabaseMsg{
		BaseMsg:               msgBase(ctx, ts, 0),
		CreateDatabaseRequest: milvuspb.CreateDatabaseRequest{Base: s.base(commonpb.MsgType_CreateDatabase, ts), DbName: d.name},
	})
}

func (s *session) dropDatabase(ctx context.Context, c command) ([]appended, error) {
	d, err := s.db(c.Db)
	if err != nil {
		return nil, err
	}
	ts := s.tso()
	if err := s.meta.snapshotRemove(ctx, ts, dbKey(d.id)); err != nil {
		return nil, err
	}
	delete(s.databases, d.name)
	return nil, s.replicate(ctx, &msgstream.DropDatabaseMsg{
		BaseMsg:             msgBase(ctx, ts, 0),
		DropDatabaseRequest: milvuspb.DropDatabaseRequest{Base: s.base(commonpb.MsgType_DropDatabase, ts), DbName: d.name},
	})
}

func consistencyOf(name string) commonpb.ConsistencyLevel {
	if v, ok := commonpb.ConsistencyLevel_value[name]; ok {
		return commonpb.ConsistencyLevel(v)
	}
	return commonpb.ConsistencyLevel_Bounded
}

// createCollection follows create_collection_task.go: pchannels for the shards, the CreateCollection message
// broadcast into each (its MQ ids become the start positions), then the metadata.
func (s *session) createCollection(ctx context.Context, c command) ([]appended, error) {
	d, err := s.db(c.Db)
	if err != nil {
		return nil, err
	}
	if c.Schema == nil {
		return nil, fmt.Errorf("createCollection: schema is required")
	}
	shards := max(c.Shards, 1)
	if shards > len(s.streams.pchannels) {
		return nil, fmt.Errorf("createCollection: %d shards but %d pchannels", shards, len(s.streams.pchannels))
	}
	coll := &collection{
		id: s.allocID(), name: c.Collection, db: d, consistency: consistencyOf(c.Consistency),
		partitions: map[string]*partition{}, indexes: map[string]*fieldIndex{},
	}
	// The message carries the schema as the SDK sent it (no dbName), completed with field ids and system fields.
	if coll.schema, _, err = c.Schema.build(c.Collection, ""); err != nil {
		return nil, err
	}
	for i := 0; i < shards; i++ {
		p := s.streams.pchannels[(s.nextShard+i)%len(s.streams.pchannels)]
		coll.pchannels = append(coll.pchannels, p)
		coll.vchannels = append(coll.vchannels, virtualChannel(p, coll.id, i))
	}
	s.nextShard += shards
	def := &partition{id: s.allocID(), name: "_default"}
	schemaBytes, err := proto.Marshal(coll.schema)
	if err != nil {
		return nil, err
	}
	coll.createTs = s.tso()
	def.createTs = coll.createTs
	msg := &msgstream.CreateCollectionMsg{
		BaseMsg: msgBase(ctx, coll.createTs, 0),
		CreateCollectionRequest: msgpb.CreateCollectionRequest{
			Base:                 &commonpb.MsgBase{MsgType: commonpb.MsgType_CreateCollection, Timestamp: coll.createTs, SourceID: rootcoordID},
			CollectionID:         coll.id,
			PartitionIDs:         []int64{def.id},
			Schema:               schemaBytes,
			VirtualChannelNames:  coll.vchannels,
			PhysicalChannelNames: coll.pchannels,
		},
	}
	out, ids, err := s.streams.broadcast(ctx, coll.pchannels, msg)
	if err != nil {
		return nil, err
	}
	coll.startPositions = ids
	coll.partitions[def.name] = def
	s.colls[d.name+"/"+coll.name] = coll
	return out, s.meta.createCollection(ctx, coll)
}

// dropCollection: the collection is marked Dropping, the garbage collector broadcasts DropCollection and then
// removes the metadata.
func (s *session) dropCollection(ctx context.Context, c command) ([]appended, error) {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return nil, err
	}
	ts := s.tso()
	if err := s.meta.saveCollection(ctx, ts, coll, collectionDropping); err != nil {
		return nil, err
	}
	out, _, err := s.streams.broadcast(ctx, coll.pchannels, &msgstream.DropCollectionMsg{
		BaseMsg: msgBase(ctx, ts, 0),
		DropCollectionRequest: msgpb.DropCollectionRequest{
			Base:           &commonpb.MsgBase{MsgType: commonpb.MsgType_DropCollection, Timestamp: ts, SourceID: rootcoordID},
			CollectionName: coll.name,
			CollectionID:   coll.id,
		},
	})
	if err != nil {
		return nil, err
	}
	delete(s.colls, coll.db.name+"/"+coll.name)
	return out, s.meta.removeCollection(ctx, s.tso(), coll)
}

// createPartition writes etcd only: 2.3–2.5 put no CreatePartition on the MQ outside streaming mode.
func (s *session) createPartition(ctx context.Context, c command) error {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return err
	}
	p := &partition{id: s.allocID(), name: c.Partition, createTs: s.tso()}
	if err := s.meta.savePartition(ctx, p.createTs, coll, p, partitionCreating); err != nil {
		return err
	}
	coll.partitions[p.name] = p
	return s.meta.savePartition(ctx, p.createTs, coll, p, partitionCreated)
}

func (s *session) dropPartition(ctx context.Context, c command) ([]appended, error) {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return nil, err
	}
	p, ok := coll.partitions[c.Partition]
	if !ok {
		return nil, fmt.Errorf("partition %q not found", c.Partition)
	}
	ts := s.tso()
	if err := s.meta.savePartition(ctx, ts, coll, p, partitionDropping); err != nil {
		return nil, err
	}
	out, _, err := s.streams.broadcast(ctx, coll.pchannels, &msgstream.DropPartitionMsg{
		BaseMsg: msgBase(ctx, ts, 0),
		DropPartitionRequest: msgpb.DropPartitionRequest{
			Base:          &commonpb.MsgBase{MsgType: commonpb.MsgType_DropPartition, Timestamp: ts, SourceID: rootcoordID},
			PartitionName: p.name,
			CollectionID:  coll.id,
			PartitionID:   p.id,
		},
	})
	if err != nil {
		return nil, err
	}
	delete(coll.partitions, p.name)
	return out, s.meta.snapshotRemove(ctx, s.tso(), partKey(coll, p))
}

func fieldByName(coll *collection, name string) (*schemapb.FieldSchema, error) {
	for _, f := range coll.schema.Fields {
		if f.Name == name {
			return f, nil
		}
	}
	return nil, fmt.Errorf("field %q not found", name)
}

func (s *session) createIndex(ctx context.Context, c command) error {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return err
	}
	f, err := fieldByName(coll, c.Field)
	if err != nil {
		return err
	}
	name := c.IndexName
	if name == "" {
		name = f.Name
	}
	params := keyValues(c.Params)
	fi := &fieldIndex{
		collectionID: coll.id, fieldID: f.FieldID, name: name, indexID: s.allocID(),
		typeParams: f.TypeParams, indexParams: params, createTime: uint64(time.Now().UnixNano()),
	}
	if err := s.meta.saveIndex(ctx, coll, fi); err != nil {
		return err
	}
	coll.indexes[name] = fi
	ts := s.tso()
	return s.replicate(ctx, &msgstream.CreateIndexMsg{
		BaseMsg: msgBase(ctx, ts, 0),
		CreateIndexRequest: milvuspb.CreateIndexRequest{
			Base: s.base(commonpb.MsgType_CreateIndex, ts), DbName: coll.db.name, CollectionName: coll.name,
			FieldName: f.Name, ExtraParams: params, IndexName: name,
		},
	})
}

func (s *session) dropIndex(ctx context.Context, c command) error {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return err
	}
	fi, ok := coll.indexes[c.IndexName]
	if !ok {
		return fmt.Errorf("index %q not found", c.IndexName)
	}
	// datacoord marks the index deleted and garbage-collects it later.
	fi.deleted = true
	if err := s.meta.saveIndex(ctx, coll, fi); err != nil {
		return err
	}
	delete(coll.indexes, c.IndexName)
	f, err := fieldByID(coll, fi.fieldID)
	if err != nil {
		return err
	}
	ts := s.tso()
	return s.replicate(ctx, &msgstream.DropIndexMsg{
		BaseMsg: msgBase(ctx, ts, 0),
		DropIndexRequest: milvuspb.DropIndexRequest{
			Base: s.base(commonpb.MsgType_DropIndex, ts), DbName: coll.db.name, CollectionName: coll.name,
			FieldName: f.Name, IndexName: c.IndexName,
		},
	})
}

func fieldByID(coll *collection, id int64) (*schemapb.FieldSchema, error) {
	for _, f := range coll.schema.Fields {
		if f.FieldID == id {
			return f, nil
		}
	}
	return nil, fmt.Errorf("field %d not found", id)
}

// collectionOp is load/release of a collection or partitions and flush: querycoord/datacoord state is not what a
// CDC reads, so only the replicate-channel message is written.
func (s *session) collectionOp(ctx context.Context, c command) error {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return err
	}
	ts := s.tso()
	db, name := coll.db.name, coll.name
	var msg msgstream.TsMsg
	switch c.Op {
	case "load":
		msg = &msgstream.LoadCollectionMsg{BaseMsg: msgBase(ctx, ts, 0), LoadCollectionRequest: milvuspb.LoadCollectionRequest{
			Base: s.base(commonpb.MsgType_LoadCollection, ts), DbName: db, CollectionName: name, ReplicaNumber: 1,
		}}
	case "release":
		msg = &msgstream.ReleaseCollectionMsg{BaseMsg: msgBase(ctx, ts, 0), ReleaseCollectionRequest: milvuspb.ReleaseCollectionRequest{
			Base: s.base(commonpb.MsgType_ReleaseCollection, ts), DbName: db, CollectionName: name,
		}}
	case "loadPartitions":
		msg = &msgstream.LoadPartitionsMsg{BaseMsg: msgBase(ctx, ts, 0), LoadPartitionsRequest: milvuspb.LoadPartitionsRequest{
			Base: s.base(commonpb.MsgType_LoadPartitions, ts), DbName: db, CollectionName: name,
			PartitionNames: c.Partitions, ReplicaNumber: 1,
		}}
	case "releasePartitions":
		msg = &msgstream.ReleasePartitionsMsg{BaseMsg: msgBase(ctx, ts, 0), ReleasePartitionsRequest: milvuspb.ReleasePartitionsRequest{
			Base: s.base(commonpb.MsgType_ReleasePartitions, ts), DbName: db, CollectionName: name,
			PartitionNames: c.Partitions,
		}}
	case "flush":
		msg = &msgstream.FlushMsg{BaseMsg: msgBase(ctx, ts, 0), FlushRequest: milvuspb.FlushRequest{
			Base: s.base(commonpb.MsgType_Flush, ts), DbName: db, CollectionNames: []string{name},
		}}
	}
	return s.replicate(ctx, msg)
}

// virtualChannel is 2.4 rootcoord's vchannel name (create_collection_task.go formats it inline; the pkg module of
// that time has no helper for it): {pchannel}_{collectionID}v{shard}.
func virtualChannel(pchannel string, collectionID int64, shard int) string {
	return fmt.Sprintf("%s_%dv%d", pchannel, collectionID, shard)
}
