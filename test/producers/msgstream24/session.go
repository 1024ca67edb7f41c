package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/msgpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/milvus-io/milvus/pkg/mq/msgstream"
)

// Node ids the emulated cluster's messages carry as MsgBase.sourceID.
const (
	rootcoordID = 1
	proxyID     = 2
)

type database struct {
	id   int64
	name string
}

type partition struct {
	id       int64
	name     string
	createTs uint64
}

type collection struct {
	id             int64
	name           string
	db             *database
	schema         *schemapb.CollectionSchema
	vchannels      []string
	pchannels      []string
	startPositions [][]byte
	createTs       uint64
	consistency    commonpb.ConsistencyLevel
	partitions     map[string]*partition
	indexes        map[string]*fieldIndex
}

// session is the emulated cluster: its databases and collections, the TSO and the ID allocator.
type session struct {
	streams    *streams
	meta       *meta
	mu         sync.Mutex
	lastTs     uint64
	databases  map[string]*database
	colls      map[string]*collection
	nextShard  int
	segments   map[string]int64
	bootstrapd bool
}

func newSession(st *streams, m *meta) *session {
	return &session{streams: st, meta: m, databases: map[string]*database{}, colls: map[string]*collection{}, segments: map[string]int64{}}
}

// tso returns a strictly increasing hybrid timestamp (physical ms << 18 | logical), as Milvus's TSO does.
func (s *session) tso() uint64 {
	now := uint64(time.Now().UnixMilli()) << 18
	if now <= s.lastTs {
		now = s.lastTs + 1
	}
	s.lastTs = now
	return now
}

// allocID hands out IDs from the same space as the TSO, like Milvus's global ID allocator (values ~4.6e17).
func (s *session) allocID() int64 { return int64(s.tso()) }

type command struct {
	Op string `json:"op"`
	// names
	Db          string   `json:"db"`
	Collection  string   `json:"collection"`
	Partition   string   `json:"partition"`
	Partitions  []string `json:"partitions"`
	Field       string   `json:"field"`
	IndexName   string   `json:"indexName"`
	Shards      int      `json:"shards"`
	Consistency string   `json:"consistency"`
	// payloads
	Schema *schemaSpec       `json:"schema"`
	Rows   []map[string]any  `json:"rows"`
	Pks    []any             `json:"pks"`
	Params map[string]string `json:"params"`
	NoTick bool              `json:"noTick"`
}

func (s *session) run(ctx context.Context, line []byte) (map[string]any, error) {
	var c command
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("bad command: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.bootstrapd {
		// rootcoord creates the default database on first start.
		def := &database{id: 1, name: "default"}
		if err := s.meta.saveDatabase(ctx, s.tso(), def); err != nil {
			return nil, err
		}
		s.databases[def.name] = def
		s.bootstrapd = true
	}
	var out []appended
	var err error
	switch c.Op {
	case "init", "tick":
	case "createDatabase":
		out, err = s.createDatabase(ctx, c)
	case "dropDatabase":
		out, err = s.dropDatabase(ctx, c)
	case "createCollection":
		out, err = s.createCollection(ctx, c)
	case "dropCollection":
		out, err = s.dropCollection(ctx, c)
	case "createPartition":
		err = s.createPartition(ctx, c)
	case "dropPartition":
		out, err = s.dropPartition(ctx, c)
	case "insert", "upsert":
		err = s.write(ctx, c)
	case "delete":
		err = s.deleteRows(ctx, c)
	case "createIndex":
		err = s.createIndex(ctx, c)
	case "dropIndex":
		err = s.dropIndex(ctx, c)
	case "load", "release", "loadPartitions", "releasePartitions", "flush":
		err = s.collectionOp(ctx, c)
	default:
		return nil, fmt.Errorf("unknown op %q", c.Op)
	}
	if err != nil {
		return nil, err
	}
	if !c.NoTick {
		ticks, err := s.tick(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, ticks...)
	}
	if err := s.meta.saveTso(ctx, s.lastTs); err != nil {
		return nil, err
	}
	return map[string]any{"broadcast": out, "pchannels": s.streams.pchannels, "replicateChannel": s.streams.replicate}, nil
}

// tick is rootcoord's time tick: a TimeTickMsg broadcast to every pchannel, later than everything sent before.
func (s *session) tick(ctx context.Context) ([]appended, error) {
	ts := s.tso()
	msg := &msgstream.TimeTickMsg{
		BaseMsg: msgstream.BaseMsg{Ctx: ctx, BeginTimestamp: ts, EndTimestamp: ts, HashValues: []uint32{0}},
		TimeTickMsg: msgpb.TimeTickMsg{
			Base: &commonpb.MsgBase{MsgType: commonpb.MsgType_TimeTick, Timestamp: ts, SourceID: rootcoordID},
		},
	}
	out, _, err := s.streams.broadcast(ctx, s.streams.pchannels, msg)
	return out, err
}

func (s *session) db(name string) (*database, error) {
	if name == "" {
		name = "default"
	}
	d, ok := s.databases[name]
	if !ok {
		return nil, fmt.Errorf("database %q not found", name)
	}
	return d, nil
}

func (s *session) coll(db, name string) (*collection, error) {
	if db == "" {
		db = "default"
	}
	c, ok := s.colls[db+"/"+name]
	if !ok {
		return nil, fmt.Errorf("collection %s.%s not found", db, name)
	}
	return c, nil
}

// base is the MsgBase a proxy task fills in.
func (s *session) base(t commonpb.MsgType, ts uint64) *commonpb.MsgBase {
	return &commonpb.MsgBase{MsgType: t, MsgID: s.allocID(), Timestamp: ts, SourceID: proxyID}
}

// msgBase is the BaseMsg of a proxy pack with one hash value (the shard index, or 0 on the replicate channel).
func msgBase(ctx context.Context, ts uint64, hash uint32) msgstream.BaseMsg {
	return msgstream.BaseMsg{Ctx: ctx, BeginTimestamp: ts, EndTimestamp: ts, HashValues: []uint32{hash}}
}
