package main

import (
	"github.com/golang/protobuf/proto"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// The etcd values of rootcoord (etcd_meta.proto) and datacoord (index_coord.proto). In Milvus 2.4 those messages
// live in the main module's internal/proto, which no other module can import, and the 2.4-era pkg module this
// producer builds on has none. Importing pkg/v2's etcdpb would raise milvus-proto go-api to 2.5 for the msgstream
// code too, so the few values written here are encoded field by field (protowire), with the field numbers of
// etcd_meta.proto / index_coord.proto (unchanged from 2.4 to 2.5 for every field set here). The nested messages are
// go-api's own types.

type collectionState int32

const (
	collectionCreated  collectionState = 0
	collectionCreating collectionState = 1
	collectionDropping collectionState = 2
)

type partitionState int32

const (
	partitionCreated  partitionState = 0
	partitionCreating partitionState = 1
	partitionDropping partitionState = 2
)

const databaseCreated = 1 // etcdpb.DatabaseState_DatabaseCreated

type wire struct {
	b   []byte
	err error
}

func (w *wire) varint(num protowire.Number, v uint64) {
	if v == 0 {
		return // proto3: a zero scalar is not written
	}
	w.b = protowire.AppendTag(w.b, num, protowire.VarintType)
	w.b = protowire.AppendVarint(w.b, v)
}

func (w *wire) str(num protowire.Number, s string) {
	if s == "" {
		return
	}
	w.b = protowire.AppendTag(w.b, num, protowire.BytesType)
	w.b = protowire.AppendString(w.b, s)
}

// strs writes a repeated string: every element, empty or not.
func (w *wire) strs(num protowire.Number, ss []string) {
	for _, s := range ss {
		w.b = protowire.AppendTag(w.b, num, protowire.BytesType)
		w.b = protowire.AppendString(w.b, s)
	}
}

func (w *wire) bytes(num protowire.Number, b []byte) {
	w.b = protowire.AppendTag(w.b, num, protowire.BytesType)
	w.b = protowire.AppendBytes(w.b, b)
}

func (w *wire) message(num protowire.Number, m proto.Message) {
	b, err := proto.Marshal(m)
	if err != nil && w.err == nil {
		w.err = err
	}
	w.bytes(num, b)
}

// databaseInfo is etcdpb.DatabaseInfo{name=2, id=3, state=4, created_time=5}.
func databaseInfo(name string, id int64, createdTime uint64) ([]byte, error) {
	w := &wire{}
	w.str(2, name)
	w.varint(3, uint64(id))
	w.varint(4, databaseCreated)
	w.varint(5, createdTime)
	return w.b, w.err
}

// collectionInfo is what MarshalCollectionModel stores (etcdpb.CollectionInfo): a schema stub without fields (they
// have keys of their own).
func collectionInfo(c *collection, state collectionState) ([]byte, error) {
	w := &wire{}
	w.varint(1, uint64(c.id))
	w.message(2, &schemapb.CollectionSchema{
		Name: c.name, AutoID: c.schema.AutoID, EnableDynamicField: c.schema.EnableDynamicField,
	})
	w.varint(3, c.createTs)
	w.strs(7, c.vchannels)
	w.strs(8, c.pchannels)
	w.varint(10, uint64(len(c.vchannels)))
	for i, p := range c.pchannels {
		w.message(11, &commonpb.KeyDataPair{Key: p, Data: c.startPositions[i]})
	}
	w.varint(12, uint64(c.consistency))
	w.varint(13, uint64(state))
	w.varint(15, uint64(c.db.id))
	w.varint(16, c.createTs)
	return w.b, w.err
}

// partitionInfo is etcdpb.PartitionInfo{partitionID=1, partitionName=2, partition_created_timestamp=3,
// collection_id=4, state=5}.
func partitionInfo(c *collection, p *partition, state partitionState) ([]byte, error) {
	w := &wire{}
	w.varint(1, uint64(p.id))
	w.str(2, p.name)
	w.varint(3, p.createTs)
	w.varint(4, uint64(c.id))
	w.varint(5, uint64(state))
	return w.b, w.err
}

// fieldIndex is datacoord's indexpb.FieldIndex{index_info=1, deleted=2, create_time=3}.
type fieldIndex struct {
	collectionID, fieldID, indexID int64
	name                           string
	typeParams, indexParams        []*commonpb.KeyValuePair
	deleted                        bool
	createTime                     uint64
}

func (f *fieldIndex) marshal() ([]byte, error) {
	// indexpb.IndexInfo{collectionID=1, fieldID=2, index_name=3, indexID=4, type_params=5, index_params=6,
	// user_index_params=12}
	info := &wire{}
	info.varint(1, uint64(f.collectionID))
	info.varint(2, uint64(f.fieldID))
	info.str(3, f.name)
	info.varint(4, uint64(f.indexID))
	for _, kv := range f.typeParams {
		info.message(5, kv)
	}
	for _, kv := range f.indexParams {
		info.message(6, kv)
	}
	for _, kv := range f.indexParams {
		info.message(12, kv)
	}
	if info.err != nil {
		return nil, info.err
	}
	w := &wire{}
	w.bytes(1, info.b)
	if f.deleted {
		w.varint(2, 1)
	}
	w.varint(3, f.createTime)
	return w.b, w.err
}
