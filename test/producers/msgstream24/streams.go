package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/milvus-io/milvus/pkg/mq/msgstream"
	"github.com/milvus-io/milvus/pkg/util/paramtable"
)

// streams holds the msgstream producers a 2.4 cluster has on Kafka: rootcoord's one per DML pchannel (Broadcast:
// CreateCollection, DropCollection, DropPartition, TimeTick), the proxy's one per collection over its pchannels
// (Produce: Insert, Delete) and the proxy's replicate-channel producer (Produce: index, load, flush, database ops).
type streams struct {
	factory   msgstream.Factory
	pchannels []string
	replicate string
	rootcoord map[string]msgstream.MsgStream
	proxyOps  msgstream.MsgStream
	dml       map[int64]msgstream.MsgStream
}

// appended is one record written to a topic.
type appended struct {
	Channel string `json:"channel"`
	Offset  int64  `json:"offset"`
	Type    string `json:"type"`
}

func openStreams(ctx context.Context, prefix string, n int) (*streams, error) {
	s := &streams{
		factory:   msgstream.NewKmsFactory(&paramtable.Get().ServiceParam),
		replicate: prefix + "-replicate-msg",
		rootcoord: map[string]msgstream.MsgStream{},
		dml:       map[int64]msgstream.MsgStream{},
	}
	for i := 0; i < n; i++ {
		p := prefix + "-rootcoord-dml_" + strconv.Itoa(i)
		ms, err := s.factory.NewMsgStream(ctx)
		if err != nil {
			return nil, err
		}
		ms.AsProducer([]string{p})
		s.pchannels = append(s.pchannels, p)
		s.rootcoord[p] = ms
	}
	ops, err := s.factory.NewMsgStream(ctx)
	if err != nil {
		return nil, err
	}
	ops.AsProducer([]string{s.replicate})
	// The proxy's replicate stream produces whatever common.ttMsgEnabled says (proxy.go).
	ops.EnableProduce(true)
	s.proxyOps = ops
	return s, nil
}

// offset is the Kafka offset in a serialized msgstream MessageID (8 bytes, little-endian).
func offset(id msgstream.MessageID) int64 {
	return int64(binary.LittleEndian.Uint64(id.Serialize()))
}

// broadcast sends one message to each of the pchannels with rootcoord's streams; the ids become start positions.
func (s *streams) broadcast(ctx context.Context, pchannels []string, msg msgstream.TsMsg) ([]appended, [][]byte, error) {
	out := []appended{}
	ids := [][]byte{}
	for _, p := range pchannels {
		ms, ok := s.rootcoord[p]
		if !ok {
			return nil, nil, fmt.Errorf("no pchannel %s", p)
		}
		got, err := ms.Broadcast(&msgstream.MsgPack{BeginTs: msg.BeginTs(), EndTs: msg.EndTs(), Msgs: []msgstream.TsMsg{msg}})
		if err != nil {
			return nil, nil, err
		}
		for _, id := range got[p] {
			out = append(out, appended{Channel: p, Offset: offset(id), Type: msg.Type().String()})
			ids = append(ids, id.Serialize())
		}
	}
	return out, ids, nil
}

// dmlStream is the proxy's producer for one collection: its pchannels in shard order, so a message whose hash value
// is the shard index lands on that shard's pchannel.
func (s *streams) dmlStream(ctx context.Context, collectionID int64, pchannels []string) (msgstream.MsgStream, error) {
	if ms, ok := s.dml[collectionID]; ok {
		return ms, nil
	}
	ms, err := s.factory.NewMsgStream(ctx)
	if err != nil {
		return nil, err
	}
	ms.AsProducer(pchannels)
	ms.SetRepackFunc(msgstream.DefaultRepackFunc)
	s.dml[collectionID] = ms
	return ms, nil
}

// produce sends a proxy pack (one timestamp) through a stream's Produce, which adds the `msg_type` header.
func produce(ctx context.Context, ms msgstream.MsgStream, ts uint64, msgs ...msgstream.TsMsg) error {
	return ms.Produce(&msgstream.MsgPack{BeginTs: ts, EndTs: ts, Msgs: msgs})
}

func (s *streams) close() {
	for _, ms := range s.rootcoord {
		ms.Close()
	}
	for _, ms := range s.dml {
		ms.Close()
	}
	s.proxyOps.Close()
}
