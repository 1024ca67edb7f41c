// Command msgstream25 is a Milvus 2.5-shaped source for the CDC tests. It writes what a 2.5 cluster on Kafka writes,
// through Milvus's own msgstream package (github.com/milvus-io/milvus/pkg/v2 v2.5.5, the library the 2.5.5 proxy and
// rootcoord produce with): DML and replicate-channel ops with Produce (which sets the `msg_type` header), DDL and time
// ticks with Broadcast (which does not), zstd-compressed, partition 0. It also writes the etcd metadata a 2.5
// rootcoord/datacoord/querycoord keep, in 2.5's layout (SuffixSnapshot: every rootcoord key also under
// `snapshots/{key}_ts{ts}`, removals as tombstones).
//
// It reads one JSON command per line on stdin and answers one JSON line per command on stdout (see session.go). The
// first line it prints is {"ready":true}.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap/zapcore"

	"github.com/milvus-io/milvus/pkg/v2/log"
	"github.com/milvus-io/milvus/pkg/v2/util/paramtable"
)

func main() {
	kafka := flag.String("kafka", "127.0.0.1:9092", "Kafka brokers")
	etcd := flag.String("etcd", "127.0.0.1:2379", "etcd endpoints")
	root := flag.String("root", "", "etcd root path of the emulated cluster (required)")
	prefix := flag.String("prefix", "", "channel prefix, msgChannel.chanNamePrefix.cluster (required)")
	pchannels := flag.Int("pchannels", 2, "number of DML pchannels")
	flag.Parse()
	if *root == "" || *prefix == "" {
		fmt.Fprintln(os.Stderr, "msgstream25: -root and -prefix are required")
		os.Exit(2)
	}

	// Milvus logs to stdout by default; stdout carries the replies here.
	logger, props, err := log.InitLoggerWithWriteSyncer(&log.Config{Level: "warn"}, zapcore.AddSync(os.Stderr))
	if err != nil {
		fail(err)
	}
	log.ReplaceGlobals(logger, props)
	paramtable.Init()
	if err := paramtable.Get().Save(paramtable.Get().KafkaCfg.Address.Key, *kafka); err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	streams, err := openStreams(ctx, *prefix, *pchannels)
	if err != nil {
		fail(err)
	}
	defer streams.close()
	meta, err := openMeta(*etcd, *root)
	if err != nil {
		fail(err)
	}
	defer meta.close()
	s := newSession(streams, meta)

	out := json.NewEncoder(os.Stdout)
	_ = out.Encode(map[string]any{"ready": true})

	lines := make(chan []byte)
	go func() {
		in := bufio.NewScanner(os.Stdin)
		in.Buffer(make([]byte, 1<<20), 256<<20)
		for in.Scan() {
			lines <- append([]byte(nil), in.Bytes()...)
		}
		close(lines)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case line, ok := <-lines:
			if !ok {
				return
			}
			reply, err := s.run(ctx, line)
			if err != nil {
				_ = out.Encode(map[string]any{"ok": false, "error": err.Error()})
				continue
			}
			reply["ok"] = true
			_ = out.Encode(reply)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "msgstream25:", err)
	os.Exit(1)
}
