package main

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/milvus-io/milvus/pkg/v2/streaming/util/message"
	"github.com/milvus-io/milvus/pkg/v2/streaming/util/types"
	"github.com/milvus-io/milvus/pkg/v2/streaming/walimpls"
	"github.com/milvus-io/milvus/pkg/v2/streaming/walimpls/registry"
	"github.com/milvus-io/milvus/pkg/v2/util/funcutil"

	_ "github.com/milvus-io/milvus/pkg/v2/streaming/walimpls/impls/kafka"
)

// wal holds Milvus's Kafka WAL opened on each pchannel, as a streaming node would.
type wal struct {
	opener    walimpls.OpenerImpls
	prefix    string
	pchannels []string
	mu        sync.Mutex
	open      map[string]walimpls.WALImpls
}

func openWAL(prefix string, n int) (*wal, error) {
	opener, err := registry.MustGetBuilder(message.WALNameKafka).Build()
	if err != nil {
		return nil, err
	}
	w := &wal{opener: opener, prefix: prefix, open: map[string]walimpls.WALImpls{}}
	for i := 0; i < n; i++ {
		w.pchannels = append(w.pchannels, prefix+"-rootcoord-dml_"+strconv.Itoa(i))
	}
	return w, nil
}

// controlChannel is the 2.6 control channel: a vchannel on the first pchannel.
func (w *wal) controlChannel() string { return funcutil.GetControlChannel(w.pchannels[0]) }

func (w *wal) get(ctx context.Context, pchannel string, mode types.AccessMode) (walimpls.WALImpls, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	key := pchannel
	if mode == types.AccessModeRO {
		key += "#ro"
	}
	if impl, ok := w.open[key]; ok {
		return impl, nil
	}
	impl, err := w.opener.Open(ctx, &walimpls.OpenOption{
		Channel: types.PChannelInfo{Name: pchannel, Term: 1, AccessMode: mode},
	})
	if err != nil {
		return nil, err
	}
	w.open[key] = impl
	return impl, nil
}

// appended is one record written to a pchannel.
type appended struct {
	PChannel string `json:"pchannel"`
	VChannel string `json:"vchannel"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	TimeTick uint64 `json:"timeTick,string"`
}

// append writes a message that already carries its time tick (and any txn context) into its pchannel.
func (w *wal) append(ctx context.Context, pchannel string, msg message.MutableMessage) (appended, error) {
	impl, err := w.get(ctx, pchannel, types.AccessModeRW)
	if err != nil {
		return appended{}, err
	}
	if !msg.Properties().Exist("_wt") {
		msg.WithWALTerm(1)
	}
	if !msg.Properties().Exist("_lc") && !msg.Properties().Exist("_lcs") {
		// A single writer: every earlier message is confirmed, so reading from this message misses nothing.
		msg.WithLastConfirmedUseMessageID()
	}
	id, err := impl.Append(ctx, msg)
	if err != nil {
		return appended{}, err
	}
	vc, _ := msg.Properties().Get("_vc")
	return appended{PChannel: pchannel, VChannel: vc, ID: id.Marshal(), Type: msg.MessageType().String(), TimeTick: msg.TimeTick()}, nil
}

func pchannelOf(vchannel string) string {
	if strings.HasSuffix(vchannel, "_"+funcutil.ControlChannelSuffix) {
		return strings.TrimSuffix(vchannel, "_"+funcutil.ControlChannelSuffix)
	}
	return funcutil.ToPhysicalChannel(vchannel)
}

func (w *wal) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, impl := range w.open {
		impl.Close()
	}
	w.opener.Close()
}
