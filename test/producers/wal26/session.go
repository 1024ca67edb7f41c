package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
	"github.com/milvus-io/milvus/pkg/v2/proto/indexpb"
	"github.com/milvus-io/milvus/pkg/v2/streaming/util/message"
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
	indexes        map[string]*indexpb.FieldIndex
	nextFieldID    int64
}

// session is the emulated cluster: its databases and collections, the TSO and the ID allocator.
type session struct {
	wal        *wal
	meta       *meta
	mu         sync.Mutex
	lastTs     uint64
	databases  map[string]*database
	colls      map[string]*collection
	nextShard  int
	nextTxnID  int64
	segments   map[string]int64
	bootstrapd bool
}

func newSession(w *wal, m *meta) *session {
	return &session{wal: w, meta: m, databases: map[string]*database{}, colls: map[string]*collection{}, segments: map[string]int64{}}
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
	Db         string `json:"db"`
	Collection string `json:"collection"`
	Partition  string `json:"partition"`
	Field      string `json:"field"`
	IndexName  string `json:"indexName"`
	// payloads
	Shards      int               `json:"shards"`
	Consistency string            `json:"consistency"`
	Schema      *schemaSpec       `json:"schema"`
	NewField    *fieldSpec        `json:"newField"`
	Rows        []map[string]any  `json:"rows"`
	Pks         []any             `json:"pks"`
	Params      map[string]string `json:"params"`
	Properties  map[string]string `json:"properties"`
	// raw appends (contract tests)
	PChannel string   `json:"pchannel"`
	Payloads []string `json:"payloads"`
	// variants
	Txn       string `json:"txn"` // "", "commit" or "rollback": wrap the messages of each vchannel in a transaction
	ChunkSize int    `json:"chunkSize"`
	Cipher    bool   `json:"cipher"`
	NoTick    bool   `json:"noTick"`
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
		if err := s.meta.bootstrap(ctx, s.wal.pchannels[0], s.tso()); err != nil {
			return nil, err
		}
		s.databases["default"] = &database{id: 1, name: "default"}
		s.bootstrapd = true
	}
	var out []appended
	var err error
	switch c.Op {
	case "init":
	case "createDatabase":
		out, err = s.createDatabase(ctx, c)
	case "dropDatabase":
		out, err = s.dropDatabase(ctx, c)
	case "createCollection":
		out, err = s.createCollection(ctx, c)
	case "dropCollection":
		out, err = s.dropCollection(ctx, c)
	case "createPartition", "dropPartition":
		out, err = s.partitionOp(ctx, c)
	case "insert", "upsert":
		out, err = s.write(ctx, c)
	case "delete":
		out, err = s.deleteRows(ctx, c)
	case "createIndex":
		out, err = s.createIndex(ctx, c)
	case "dropIndex":
		out, err = s.dropIndex(ctx, c)
	case "load", "release":
		out, err = s.loadConfig(ctx, c)
	case "flush":
		out, err = s.flush(ctx, c)
	case "addField":
		out, err = s.addField(ctx, c)
	case "raw":
		out, err = s.raw(ctx, c)
	case "tick":
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
	return map[string]any{"appended": out, "controlChannel": s.wal.controlChannel(), "pchannels": s.wal.pchannels}, nil
}

// tick appends a persisted TimeTick to every pchannel (a 2.6 streaming node persists some of its ticks).
func (s *session) tick(ctx context.Context) ([]appended, error) {
	out := make([]appended, 0, len(s.wal.pchannels))
	for _, p := range s.wal.pchannels {
		tt := s.tso()
		msg := message.NewTimeTickMessageBuilderV1().
			WithHeader(&message.TimeTickMessageHeader{}).
			WithBody(&message.TimeTickMsg{Base: &commonpb.MsgBase{MsgType: commonpb.MsgType_TimeTick, Timestamp: tt, SourceID: 1}}).
			WithAllVChannel().
			MustBuildMutable().
			WithTimeTick(tt)
		a, err := s.wal.append(ctx, p, msg)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// appendNow stamps the message with a fresh time tick and appends it to the pchannel of its vchannel.
func (s *session) appendNow(ctx context.Context, vchannel string, msg message.MutableMessage) (appended, error) {
	msg.WithTimeTick(s.tso())
	return s.wal.append(ctx, pchannelOf(vchannel), msg)
}

// broadcast splits a broadcast message into one message per vchannel and appends each, as streamingcoord does.
func (s *session) broadcast(ctx context.Context, msg message.BroadcastMutableMessage) ([]appended, error) {
	out := []appended{}
	for _, m := range msg.WithBroadcastID(uint64(s.allocID())).SplitIntoMutableMessage() {
		vc, _ := m.Properties().Get("_vc")
		a, err := s.appendNow(ctx, vc, m)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// legacyPosition is the MQ message id bytes Milvus keeps in etcd start positions: what the adaptor's
// MustGetMQWrapperIDFromMessage(...).Serialize() gives for a Kafka WAL id (base36 offset), an 8-byte LE offset.
// (The adaptor package itself links RocksMQ, which needs the RocksDB C library.)
func legacyPosition(id string) []byte {
	offset, err := message.DecodeInt64(id)
	if err != nil {
		panic(err)
	}
	return binary.LittleEndian.AppendUint64(nil, uint64(offset))
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
