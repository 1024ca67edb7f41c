package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/msgpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/milvus-io/milvus/pkg/v2/proto/etcdpb"
	"github.com/milvus-io/milvus/pkg/v2/proto/indexpb"
	"github.com/milvus-io/milvus/pkg/v2/proto/messagespb"
	"github.com/milvus-io/milvus/pkg/v2/streaming/util/message"
	"github.com/milvus-io/milvus/pkg/v2/util/funcutil"
)

func keyValues(m map[string]string) []*commonpb.KeyValuePair {
	out := make([]*commonpb.KeyValuePair, 0, len(m))
	for k, v := range m {
		out = append(out, &commonpb.KeyValuePair{Key: k, Value: v})
	}
	return out
}

func (s *session) createDatabase(ctx context.Context, c command) ([]appended, error) {
	d := &database{id: s.allocID(), name: c.Db}
	msg := message.NewCreateDatabaseMessageBuilderV2().
		WithHeader(&message.CreateDatabaseMessageHeader{DbName: d.name, DbId: d.id}).
		WithBody(&message.CreateDatabaseMessageBody{Properties: keyValues(c.Properties)}).
		WithBroadcast([]string{s.wal.controlChannel()}).
		MustBuildBroadcast()
	out, err := s.broadcast(ctx, msg)
	if err != nil {
		return nil, err
	}
	s.databases[d.name] = d
	return out, s.meta.saveDatabase(ctx, d, etcdpb.DatabaseState_DatabaseCreated)
}

func (s *session) dropDatabase(ctx context.Context, c command) ([]appended, error) {
	d, err := s.db(c.Db)
	if err != nil {
		return nil, err
	}
	msg := message.NewDropDatabaseMessageBuilderV2().
		WithHeader(&message.DropDatabaseMessageHeader{DbName: d.name, DbId: d.id}).
		WithBody(&message.DropDatabaseMessageBody{}).
		WithBroadcast([]string{s.wal.controlChannel()}).
		MustBuildBroadcast()
	out, err := s.broadcast(ctx, msg)
	if err != nil {
		return nil, err
	}
	delete(s.databases, d.name)
	return out, s.meta.del(ctx, fmt.Sprintf("root-coord/database/db-info/%d", d.id))
}

func consistencyOf(name string) commonpb.ConsistencyLevel {
	if v, ok := commonpb.ConsistencyLevel_value[name]; ok {
		return commonpb.ConsistencyLevel(v)
	}
	return commonpb.ConsistencyLevel_Bounded
}

func (s *session) createCollection(ctx context.Context, c command) ([]appended, error) {
	d, err := s.db(c.Db)
	if err != nil {
		return nil, err
	}
	if c.Schema == nil {
		return nil, fmt.Errorf("createCollection: schema is required")
	}
	shards := c.Shards
	if shards <= 0 {
		shards = 1
	}
	coll := &collection{
		id: s.allocID(), name: c.Collection, db: d, consistency: consistencyOf(c.Consistency),
		partitions: map[string]*partition{}, indexes: map[string]*indexpb.FieldIndex{},
	}
	coll.schema, coll.nextFieldID, err = c.Schema.build(c.Collection, d.name)
	if err != nil {
		return nil, err
	}
	coll.schema.Properties = append(coll.schema.Properties, &commonpb.KeyValuePair{Key: "consistency_level", Value: coll.consistency.String()})
	for i := 0; i < shards; i++ {
		p := s.wal.pchannels[s.nextShard%len(s.wal.pchannels)]
		s.nextShard++
		coll.pchannels = append(coll.pchannels, p)
		coll.vchannels = append(coll.vchannels, funcutil.GetVirtualChannel(p, coll.id, i))
	}
	def := &partition{id: s.allocID(), name: "_default"}
	schemaBytes, err := proto.Marshal(coll.schema)
	if err != nil {
		return nil, err
	}
	body := &msgpb.CreateCollectionRequest{
		Base:                 &commonpb.MsgBase{MsgType: commonpb.MsgType_CreateCollection, SourceID: 1},
		DbName:               d.name,
		CollectionName:       coll.name,
		DbID:                 d.id,
		CollectionID:         coll.id,
		Schema:               schemaBytes,
		VirtualChannelNames:  coll.vchannels,
		PhysicalChannelNames: coll.pchannels,
		PartitionIDs:         []int64{def.id},
		PartitionNames:       []string{def.name},
		CollectionSchema:     coll.schema,
	}
	channels := append([]string{s.wal.controlChannel()}, coll.vchannels...)
	msg := message.NewCreateCollectionMessageBuilderV1().
		WithHeader(&message.CreateCollectionMessageHeader{CollectionId: coll.id, PartitionIds: []int64{def.id}, DbId: d.id}).
		WithBody(body).
		WithBroadcast(channels).
		MustBuildBroadcast()
	out, err := s.broadcast(ctx, msg)
	if err != nil {
		return nil, err
	}
	coll.startPositions = make([][]byte, len(coll.vchannels))
	for _, a := range out {
		for i, v := range coll.vchannels {
			if a.VChannel == v {
				coll.startPositions[i] = legacyPosition(a.ID)
			}
		}
		if a.VChannel == s.wal.controlChannel() {
			coll.createTs = a.TimeTick
		}
	}
	def.createTs = coll.createTs
	coll.partitions[def.name] = def
	s.colls[d.name+"/"+coll.name] = coll
	if err := s.meta.saveCollection(ctx, coll, etcdpb.CollectionState_CollectionCreated); err != nil {
		return nil, err
	}
	return out, s.meta.savePartition(ctx, coll, def, etcdpb.PartitionState_PartitionCreated)
}

func (s *session) dropCollection(ctx context.Context, c command) ([]appended, error) {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return nil, err
	}
	msg := message.NewDropCollectionMessageBuilderV1().
		WithHeader(&message.DropCollectionMessageHeader{CollectionId: coll.id, DbId: coll.db.id}).
		WithBody(&msgpb.DropCollectionRequest{
			Base:   &commonpb.MsgBase{MsgType: commonpb.MsgType_DropCollection, SourceID: 1},
			DbName: coll.db.name, CollectionName: coll.name, DbID: coll.db.id, CollectionID: coll.id,
		}).
		WithBroadcast(append([]string{s.wal.controlChannel()}, coll.vchannels...)).
		MustBuildBroadcast()
	out, err := s.broadcast(ctx, msg)
	if err != nil {
		return nil, err
	}
	delete(s.colls, coll.db.name+"/"+coll.name)
	// rootcoord keeps the collection as Dropping until its garbage collection.
	return out, s.meta.saveCollection(ctx, coll, etcdpb.CollectionState_CollectionDropping)
}

func (s *session) partitionOp(ctx context.Context, c command) ([]appended, error) {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return nil, err
	}
	channels := append([]string{s.wal.controlChannel()}, coll.vchannels...)
	if c.Op == "createPartition" {
		p := &partition{id: s.allocID(), name: c.Partition}
		msg := message.NewCreatePartitionMessageBuilderV1().
			WithHeader(&message.CreatePartitionMessageHeader{CollectionId: coll.id, PartitionId: p.id}).
			WithBody(&msgpb.CreatePartitionRequest{
				Base:   &commonpb.MsgBase{MsgType: commonpb.MsgType_CreatePartition, SourceID: 1},
				DbName: coll.db.name, CollectionName: coll.name, PartitionName: p.name,
				DbID: coll.db.id, CollectionID: coll.id, PartitionID: p.id,
			}).
			WithBroadcast(channels).
			MustBuildBroadcast()
		out, err := s.broadcast(ctx, msg)
		if err != nil {
			return nil, err
		}
		p.createTs = out[0].TimeTick
		coll.partitions[p.name] = p
		return out, s.meta.savePartition(ctx, coll, p, etcdpb.PartitionState_PartitionCreated)
	}
	p, ok := coll.partitions[c.Partition]
	if !ok {
		return nil, fmt.Errorf("partition %q not found", c.Partition)
	}
	msg := message.NewDropPartitionMessageBuilderV1().
		WithHeader(&message.DropPartitionMessageHeader{CollectionId: coll.id, PartitionId: p.id}).
		WithBody(&msgpb.DropPartitionRequest{
			Base:   &commonpb.MsgBase{MsgType: commonpb.MsgType_DropPartition, SourceID: 1},
			DbName: coll.db.name, CollectionName: coll.name, PartitionName: p.name,
			DbID: coll.db.id, CollectionID: coll.id, PartitionID: p.id,
		}).
		WithBroadcast(channels).
		MustBuildBroadcast()
	out, err := s.broadcast(ctx, msg)
	if err != nil {
		return nil, err
	}
	delete(coll.partitions, p.name)
	return out, s.meta.dropPartition(ctx, coll, p)
}

func (s *session) fieldByName(coll *collection, name string) (*schemapb.FieldSchema, error) {
	for _, f := range coll.schema.Fields {
		if f.Name == name {
			return f, nil
		}
	}
	return nil, fmt.Errorf("field %q not found", name)
}

func (s *session) createIndex(ctx context.Context, c command) ([]appended, error) {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return nil, err
	}
	f, err := s.fieldByName(coll, c.Field)
	if err != nil {
		return nil, err
	}
	name := c.IndexName
	if name == "" {
		name = f.Name
	}
	info := &indexpb.IndexInfo{
		CollectionID: coll.id, FieldID: f.FieldID, IndexName: name, IndexID: s.allocID(),
		TypeParams: f.TypeParams, IndexParams: keyValues(c.Params), UserIndexParams: keyValues(c.Params),
	}
	fi := &indexpb.FieldIndex{IndexInfo: info, CreateTime: uint64(time.Now().UnixNano())}
	msg := message.NewCreateIndexMessageBuilderV2().
		WithHeader(&message.CreateIndexMessageHeader{
			DbId: coll.db.id, CollectionId: coll.id, FieldId: f.FieldID, IndexId: info.IndexID, IndexName: name,
		}).
		WithBody(&message.CreateIndexMessageBody{FieldIndex: fi}).
		WithBroadcast([]string{s.wal.controlChannel()}).
		MustBuildBroadcast()
	out, err := s.broadcast(ctx, msg)
	if err != nil {
		return nil, err
	}
	coll.indexes[name] = fi
	return out, s.meta.saveIndex(ctx, coll, fi)
}

func (s *session) dropIndex(ctx context.Context, c command) ([]appended, error) {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return nil, err
	}
	fi, ok := coll.indexes[c.IndexName]
	if !ok {
		return nil, fmt.Errorf("index %q not found", c.IndexName)
	}
	msg := message.NewDropIndexMessageBuilderV2().
		WithHeader(&message.DropIndexMessageHeader{CollectionId: coll.id, IndexIds: []int64{fi.GetIndexInfo().GetIndexID()}}).
		WithBody(&message.DropIndexMessageBody{}).
		WithBroadcast([]string{s.wal.controlChannel()}).
		MustBuildBroadcast()
	out, err := s.broadcast(ctx, msg)
	if err != nil {
		return nil, err
	}
	delete(coll.indexes, c.IndexName)
	// datacoord marks the index deleted and garbage-collects it later.
	fi.Deleted = true
	return out, s.meta.saveIndex(ctx, coll, fi)
}

func (s *session) loadConfig(ctx context.Context, c command) ([]appended, error) {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return nil, err
	}
	var msg message.BroadcastMutableMessage
	if c.Op == "load" {
		parts := make([]int64, 0, len(coll.partitions))
		for _, p := range coll.partitions {
			parts = append(parts, p.id)
		}
		fields := []*messagespb.LoadFieldConfig{}
		for _, f := range coll.schema.Fields {
			if f.FieldID >= 100 {
				fields = append(fields, &messagespb.LoadFieldConfig{FieldId: f.FieldID})
			}
		}
		msg = message.NewAlterLoadConfigMessageBuilderV2().
			WithHeader(&message.AlterLoadConfigMessageHeader{
				DbId: coll.db.id, CollectionId: coll.id, PartitionIds: parts, LoadFields: fields,
				Replicas: []*messagespb.LoadReplicaConfig{{ReplicaId: s.allocID(), ResourceGroupName: "__default_resource_group"}},
			}).
			WithBody(&message.AlterLoadConfigMessageBody{}).
			WithBroadcast([]string{s.wal.controlChannel()}).
			MustBuildBroadcast()
	} else {
		msg = message.NewDropLoadConfigMessageBuilderV2().
			WithHeader(&message.DropLoadConfigMessageHeader{DbId: coll.db.id, CollectionId: coll.id}).
			WithBody(&message.DropLoadConfigMessageBody{}).
			WithBroadcast([]string{s.wal.controlChannel()}).
			MustBuildBroadcast()
	}
	return s.broadcast(ctx, msg)
}

// flush appends a ManualFlush to every vchannel of the collection, as datacoord's Flush does in 2.6.
func (s *session) flush(ctx context.Context, c command) ([]appended, error) {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return nil, err
	}
	out := []appended{}
	for _, vc := range coll.vchannels {
		tt := s.tso()
		msg := message.NewManualFlushMessageBuilderV2().
			WithHeader(&message.ManualFlushMessageHeader{CollectionId: coll.id, FlushTs: tt}).
			WithBody(&message.ManualFlushMessageBody{}).
			WithVChannel(vc).
			MustBuildMutable().
			WithTimeTick(tt)
		a, err := s.wal.append(ctx, pchannelOf(vc), msg)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// addField is AddCollectionField: an AlterCollection whose update mask names the schema.
func (s *session) addField(ctx context.Context, c command) ([]appended, error) {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return nil, err
	}
	if c.NewField == nil {
		return nil, fmt.Errorf("addField: newField is required")
	}
	f, err := c.NewField.build(coll.nextFieldID)
	if err != nil {
		return nil, err
	}
	coll.nextFieldID++
	schema := proto.Clone(coll.schema).(*schemapb.CollectionSchema)
	schema.Fields = append(schema.Fields, f)
	schema.Version++
	msg := message.NewAlterCollectionMessageBuilderV2().
		WithHeader(&message.AlterCollectionMessageHeader{
			DbId: coll.db.id, CollectionId: coll.id,
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{message.FieldMaskCollectionSchema}},
		}).
		WithBody(&message.AlterCollectionMessageBody{Updates: &message.AlterCollectionMessageUpdates{Schema: schema}}).
		WithBroadcast(append([]string{s.wal.controlChannel()}, coll.vchannels...)).
		MustBuildBroadcast()
	out, err := s.broadcast(ctx, msg)
	if err != nil {
		return nil, err
	}
	coll.schema = schema
	return out, s.meta.saveField(ctx, coll, f)
}

// raw appends opaque payloads as TimeTick-typed messages (the source-reader contract checks order and positions).
func (s *session) raw(ctx context.Context, c command) ([]appended, error) {
	out := []appended{}
	for _, p := range c.Payloads {
		msg := message.NewMutableMessageBeforeAppend([]byte(p), map[string]string{
			"_t": strconv.Itoa(int(message.MessageTypeTimeTick)), "_v": "1", "_vc": c.PChannel,
		})
		msg.WithTimeTick(s.tso())
		a, err := s.wal.append(ctx, c.PChannel, msg)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}
