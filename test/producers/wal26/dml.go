package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/msgpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/milvus-io/milvus/pkg/v2/proto/messagespb"
	"github.com/milvus-io/milvus/pkg/v2/streaming/util/message"
	"github.com/milvus-io/milvus/pkg/v2/util/typeutil"
)

func (s *session) primaryKey(coll *collection) *schemapb.FieldSchema {
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

// byShard groups row indexes by vchannel with Milvus's own shard hash.
func byShard(coll *collection, keys *schemapb.IDs) map[string][]int {
	out := map[string][]int{}
	for i, h := range typeutil.HashPK2Channels(keys, coll.vchannels) {
		vc := coll.vchannels[h]
		out[vc] = append(out[vc], i)
	}
	return out
}

func (s *session) segmentOf(coll *collection, vc string, p *partition) int64 {
	key := fmt.Sprintf("%d/%s/%d", coll.id, vc, p.id)
	if id, ok := s.segments[key]; ok {
		return id
	}
	id := s.allocID()
	s.segments[key] = id
	return id
}

func (s *session) write(ctx context.Context, c command) ([]appended, error) {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return nil, err
	}
	pname := c.Partition
	if pname == "" {
		pname = "_default"
	}
	p, ok := coll.partitions[pname]
	if !ok {
		return nil, fmt.Errorf("partition %q not found", pname)
	}
	pk := s.primaryKey(coll)
	keys := make([]any, len(c.Rows))
	for i, r := range c.Rows {
		keys[i] = r[pk.Name]
	}
	all, err := ids(pk, keys)
	if err != nil {
		return nil, err
	}
	out := []appended{}
	for _, vc := range coll.vchannels {
		idx := byShard(coll, all)[vc]
		if len(idx) == 0 {
			continue
		}
		rows := make([]map[string]any, len(idx))
		shardKeys := make([]any, len(idx))
		for i, j := range idx {
			rows[i] = c.Rows[j]
			shardKeys[i] = keys[j]
		}
		msgs, err := s.insertMessages(coll, vc, p, rows, c)
		if err != nil {
			return nil, err
		}
		txn := c.Txn
		if c.Op == "upsert" {
			del, err := s.deleteMessage(coll, vc, pk, shardKeys)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, del)
			if txn == "" {
				txn = "commit" // several messages for one vchannel go as one transaction
			}
		}
		a, err := s.appendAll(ctx, vc, msgs, txn, c.ChunkSize)
		if err != nil {
			return nil, err
		}
		out = append(out, a...)
	}
	return out, nil
}

func (s *session) insertMessages(coll *collection, vc string, p *partition, rows []map[string]any, c command) ([]message.MutableMessage, error) {
	fields, err := columns(coll.schema, rows)
	if err != nil {
		return nil, err
	}
	rowIDs := make([]int64, len(rows))
	for i := range rowIDs {
		rowIDs[i] = s.allocID()
	}
	body := &msgpb.InsertRequest{
		Base:           &commonpb.MsgBase{MsgType: commonpb.MsgType_Insert, MsgID: s.allocID(), SourceID: 1},
		ShardName:      vc,
		DbName:         coll.db.name,
		CollectionName: coll.name,
		PartitionName:  p.name,
		CollectionID:   coll.id,
		PartitionID:    p.id,
		RowIDs:         rowIDs,
		FieldsData:     fields,
		NumRows:        uint64(len(rows)),
		Version:        msgpb.InsertDataVersion_ColumnBased,
	}
	b := message.NewInsertMessageBuilderV1().
		WithHeader(&message.InsertMessageHeader{
			CollectionId: coll.id,
			Partitions: []*message.PartitionSegmentAssignment{{
				PartitionId: p.id, Rows: uint64(len(rows)), BinarySize: uint64(proto.Size(body)),
				SegmentAssignment: &message.SegmentAssignment{SegmentId: s.segmentOf(coll, vc, p)},
			}},
		}).
		WithBody(body).
		WithVChannel(vc)
	if c.Cipher {
		// The payload stays plain: no cipher plugin exists here. A reader must refuse the message on `_ch` alone.
		ch, err := message.EncodeProto(&messagespb.CipherHeader{EzId: 1, CollectionId: coll.id, SafeKey: []byte("k"), PayloadBytes: int64(proto.Size(body))})
		if err != nil {
			return nil, err
		}
		b = b.WithProperty("_ch", ch)
	}
	return []message.MutableMessage{b.MustBuildMutable()}, nil
}

func (s *session) deleteMessage(coll *collection, vc string, pk *schemapb.FieldSchema, keys []any) (message.MutableMessage, error) {
	pks, err := ids(pk, keys)
	if err != nil {
		return nil, err
	}
	return message.NewDeleteMessageBuilderV1().
		WithHeader(&message.DeleteMessageHeader{CollectionId: coll.id, Rows: uint64(len(keys))}).
		WithBody(&msgpb.DeleteRequest{
			Base:           &commonpb.MsgBase{MsgType: commonpb.MsgType_Delete, MsgID: s.allocID(), SourceID: 1},
			ShardName:      vc,
			DbName:         coll.db.name,
			CollectionName: coll.name,
			CollectionID:   coll.id,
			PartitionID:    -1,
			PrimaryKeys:    pks,
			Timestamps:     make([]uint64, len(keys)),
			NumRows:        int64(len(keys)),
		}).
		WithVChannel(vc).
		MustBuildMutable(), nil
}

func (s *session) deleteRows(ctx context.Context, c command) ([]appended, error) {
	coll, err := s.coll(c.Db, c.Collection)
	if err != nil {
		return nil, err
	}
	pk := s.primaryKey(coll)
	all, err := ids(pk, c.Pks)
	if err != nil {
		return nil, err
	}
	out := []appended{}
	for vc, idx := range byShard(coll, all) {
		keys := make([]any, len(idx))
		for i, j := range idx {
			keys[i] = c.Pks[j]
		}
		msg, err := s.deleteMessage(coll, vc, pk, keys)
		if err != nil {
			return nil, err
		}
		a, err := s.appendAll(ctx, vc, []message.MutableMessage{msg}, c.Txn, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, a...)
	}
	return out, nil
}

// appendAll appends the messages of one vchannel, as a transaction (BeginTxn, body, CommitTxn or RollbackTxn, every
// message carrying the txn context) when txn is set, each payload split into chunks when chunkSize > 0.
func (s *session) appendAll(ctx context.Context, vc string, msgs []message.MutableMessage, txn string, chunkSize int) ([]appended, error) {
	if txn == "" {
		out := []appended{}
		for _, m := range msgs {
			a, err := s.appendChunked(ctx, vc, m, chunkSize)
			if err != nil {
				return nil, err
			}
			out = append(out, a...)
		}
		return out, nil
	}
	s.nextTxnID++
	tc := message.TxnContext{TxnID: message.TxnID(s.allocID()), Keepalive: 10 * time.Second}
	begin := message.NewBeginTxnMessageBuilderV2().
		WithHeader(&message.BeginTxnMessageHeader{KeepaliveMilliseconds: tc.Keepalive.Milliseconds()}).
		WithBody(&message.BeginTxnMessageBody{}).
		WithVChannel(vc).
		MustBuildMutable().
		WithTxnContext(tc)
	var end message.MutableMessage
	if txn == "rollback" {
		end = message.NewRollbackTxnMessageBuilderV2().WithHeader(&message.RollbackTxnMessageHeader{}).
			WithBody(&message.RollbackTxnMessageBody{}).WithVChannel(vc).MustBuildMutable()
	} else {
		end = message.NewCommitTxnMessageBuilderV2().WithHeader(&message.CommitTxnMessageHeader{}).
			WithBody(&message.CommitTxnMessageBody{}).WithVChannel(vc).MustBuildMutable()
	}
	all := append(append([]message.MutableMessage{begin}, msgs...), end.WithTxnContext(tc))
	out := []appended{}
	for i, m := range all {
		if i > 0 && i < len(all)-1 {
			m.WithTxnContext(tc)
		}
		a, err := s.appendChunked(ctx, vc, m, chunkSize)
		if err != nil {
			return nil, err
		}
		out = append(out, a...)
	}
	return out, nil
}

// appendChunked stamps the message's time tick and appends it, split into `_ci`/`_ct` chunks when its payload is
// larger than chunkSize. The served pkg/v2 versions predate WAL chunking (message.SplitIntoChunks on Milvus master):
// this writes that layout — every chunk has the original properties (the same `_tt`) plus the 0-based index `_ci`
// and the total `_ct`, decimal — around payload bytes built by Milvus's own builder.
func (s *session) appendChunked(ctx context.Context, vc string, m message.MutableMessage, chunkSize int) ([]appended, error) {
	m.WithTimeTick(s.tso())
	pb := m.IntoMessageProto()
	if chunkSize <= 0 || len(pb.Payload) <= chunkSize {
		a, err := s.wal.append(ctx, pchannelOf(vc), m)
		if err != nil {
			return nil, err
		}
		return []appended{a}, nil
	}
	m.WithWALTerm(1)
	m.WithLastConfirmedUseMessageID()
	pb = m.IntoMessageProto()
	total := (len(pb.Payload) + chunkSize - 1) / chunkSize
	out := []appended{}
	for i := 0; i < total; i++ {
		end := (i + 1) * chunkSize
		if end > len(pb.Payload) {
			end = len(pb.Payload)
		}
		props := map[string]string{}
		for k, v := range pb.Properties {
			props[k] = v
		}
		props["_ci"] = strconv.Itoa(i)
		props["_ct"] = strconv.Itoa(total)
		a, err := s.wal.append(ctx, pchannelOf(vc), message.NewMutableMessageBeforeAppend(pb.Payload[i*chunkSize:end], props))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}
