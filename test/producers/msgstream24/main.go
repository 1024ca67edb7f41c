// Command msgstream24 is a Milvus 2.4-era source for the CDC tests. It writes what a cluster of that time on Kafka
// writes, through the msgstream package of github.com/milvus-io/milvus/pkg v0.0.2-0.20240605063157-545d4725fb04 (the
// master branch of 2024-06-05, between the 2.4.4 and 2.4.5 releases; the Go module proxy serves no 2.4 release-branch
// version of that module), with the milvus-proto go-api version that module requires: DML and replicate-channel ops
// with Produce, DDL and time ticks with Broadcast, neither setting a `msg_type` header (as 2.4.0–2.4.12), zstd,
// partition 0. It also writes the etcd metadata rootcoord/datacoord keep (SuffixSnapshot layout, tombstones); those
// values are encoded field by field, see etcdvalues.go. It is the msgstream25 producer with these differences.
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

	"github.com/milvus-io/milvus/pkg/log"
	"github.com/milvus-io/milvus/pkg/util/paramtable"
)

func main() {
	kafka := flag.String("kafka", "127.0.0.1:9092", "Kafka brokers")
	etcd := flag.String("etcd", "127.0.0.1:2379", "etcd endpoints")
	root := flag.String("root", "", "etcd root path of the emulated cluster (required)")
	prefix := flag.String("prefix", "", "channel prefix, msgChannel.chanNamePrefix.cluster (required)")
	pchannels := flag.Int("pchannels", 2, "number of DML pchannels")
	flag.Parse()
	if *root == "" || *prefix == "" {
		fmt.Fprintln(os.Stderr, "msgstream24: -root and -prefix are required")
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
	fmt.Fprintln(os.Stderr, "msgstream24:", err)
	os.Exit(1)
}
