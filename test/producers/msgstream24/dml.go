package main

import (
	"context"
	"fmt"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/msgpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/milvus-io/milvus/pkg/mq/msgstream"
	"github.com/milvus-io/milvus/pkg/util/typeutil"
)

// allPartitions is common.AllPartitionsID: a delete without a partition applies to all of them.
const allPartitions = -1

func primaryKey(coll *collection) *schemapb.FieldSchema {
	for _, f := range coll.schema.Fields {
		if f.IsPrimaryKey {
			return f
		}
	}
	return nil
}

// ids turns primary key values into schemapb.IDs, the input of HashPK2Channels and the body of a delete.
func ids(pk *schemapb.FieldSchema, values []any) (*schemapb.IDs, error) {
	if pk.DataType == schemapb.DataType_Int64 {
		d := make([]int64, len(values))
		for i, v := range values {
			n, err := long(v)
			if err != nil {
				return nil, err
			}
			d[i] = n
		}
		return &schemapb.IDs{IdField: &schemapb.IDs_IntId{IntId: &schemapb.LongArray{Data: d}}}, nil
	}
	d := make([]string, len(values))
	for i, v := range values {
		d[i], _ = v.(string)
	}
	return &schemapb.IDs{IdField: &schemapb.IDs_StrId{StrId: &schemapb.StringArray{Data: d}}}, nil
}

// byShard groups row indexes by shard index with Milvus's own shard hash (HashPK2Channels over the vchannels).
func byShard(coll *collection, keys *schemapb.IDs) map[int][]int {
	out := map[int][]int{}
	for i, h := range typeutil.HashPK2Channels(keys, coll.vchannels) {
		out[int(h)] = append(out[int(h)], i)
	}
	return out
}

func (s *session) segmentOf(coll *collection, shard int, p *partition) int64 {
	key := fmt.Sprintf("%d/%d/%d", coll.id, shard, p.id)
	if id, ok := s.segments[key]; ok {
		return id
	}
	id := s.allocID()
	s.segments[key] = id
	return id
}

func repeatTs(ts uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = ts
	}
	return out
}

// write is the proxy's insert or upsert task: one pack with an InsertMsg per shard (and, for an upsert, a DeleteMsg
// per shard of the same keys after the inserts), every row at the task's timestamp, through Produce.
func (s *session) write(ctx context.Context, c command) error {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return err
	}
	pname := c.Partition
	if pname == "" {
		pname = "_default"
	}
	p, ok := coll.partitions[pname]
	if !ok {
		return fmt.Errorf("partition %q not found", pname)
	}
	pk := primaryKey(coll)
	keys := make([]any, len(c.Rows))
	for i, r := range c.Rows {
		keys[i] = r[pk.Name]
	}
	all, err := ids(pk, keys)
	if err != nil {
		return err
	}
	ts := s.tso()
	inserts, deletes := []msgstream.TsMsg{}, []msgstream.TsMsg{}
	for shard, idx := range byShard(coll, all) {
		rows := make([]map[string]any, len(idx))
		shardKeys := make([]any, len(idx))
		for i, j := range idx {
			rows[i], shardKeys[i] = c.Rows[j], keys[j]
		}
		fields, err := columns(coll.schema, rows)
		if err != nil {
			return err
		}
		rowIDs := make([]int64, len(rows))
		for i := range rowIDs {
			rowIDs[i] = s.allocID()
		}
		inserts = append(inserts, &msgstream.InsertMsg{
			BaseMsg: msgBase(ctx, ts, uint32(shard)),
			InsertRequest: msgpb.InsertRequest{
				Base:           s.base(commonpb.MsgType_Insert, ts),
				ShardName:      coll.vchannels[shard],
				DbName:         coll.db.name,
				CollectionName: coll.name,
				PartitionName:  p.name,
				CollectionID:   coll.id,
				PartitionID:    p.id,
				SegmentID:      s.segmentOf(coll, shard, p),
				Timestamps:     repeatTs(ts, len(rows)),
				RowIDs:         rowIDs,
				FieldsData:     fields,
				NumRows:        uint64(len(rows)),
				Version:        msgpb.InsertDataVersion_ColumnBased,
			},
		})
		if c.Op == "upsert" {
			del, err := s.deleteMsg(ctx, coll, shard, pk, shardKeys, ts, c.Partition)
			if err != nil {
				return err
			}
			deletes = append(deletes, del)
		}
	}
	ms, err := s.streams.dmlStream(ctx, coll.id, coll.pchannels)
	if err != nil {
		return err
	}
	return produce(ctx, ms, ts, append(inserts, deletes...)...)
}

func (s *session) deleteMsg(ctx context.Context, coll *collection, shard int, pk *schemapb.FieldSchema, keys []any, ts uint64, partitionName string) (msgstream.TsMsg, error) {
	pks, err := ids(pk, keys)
	if err != nil {
		return nil, err
	}
	partitionID := int64(allPartitions)
	if p, ok := coll.partitions[partitionName]; ok {
		partitionID = p.id
	}
	return &msgstream.DeleteMsg{
		BaseMsg: msgBase(ctx, ts, uint32(shard)),
		DeleteRequest: msgpb.DeleteRequest{
			Base:           s.base(commonpb.MsgType_Delete, ts),
			ShardName:      coll.vchannels[shard],
			DbName:         coll.db.name,
			CollectionName: coll.name,
			PartitionName:  partitionName,
			CollectionID:   coll.id,
			PartitionID:    partitionID,
			PrimaryKeys:    pks,
			Timestamps:     repeatTs(ts, len(keys)),
			NumRows:        int64(len(keys)),
		},
	}, nil
}

// deleteRows is the proxy's delete task: a DeleteMsg for each shard that owns some of the keys.
func (s *session) deleteRows(ctx context.Context, c command) error {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return err
	}
	pk := primaryKey(coll)
	all, err := ids(pk, c.Pks)
	if err != nil {
		return err
	}
	ts := s.tso()
	msgs := []msgstream.TsMsg{}
	for shard, idx := range byShard(coll, all) {
		keys := make([]any, len(idx))
		for i, j := range idx {
			keys[i] = c.Pks[j]
		}
		m, err := s.deleteMsg(ctx, coll, shard, pk, keys, ts, c.Partition)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	ms, err := s.streams.dmlStream(ctx, coll.id, coll.pchannels)
	if err != nil {
		return err
	}
	return produce(ctx, ms, ts, msgs...)
}
