// Command wal26 is a Milvus 2.6-shaped source for the CDC tests: it builds messages with Milvus's own message
// builders (github.com/milvus-io/milvus/pkg/v2/streaming/util/message) and appends them through Milvus's own Kafka
// WAL implementation (pkg/streaming/walimpls/impls/kafka), writes the etcd metadata a 2.6 rootcoord keeps, and serves
// the proxy's DumpMessages RPC from that WAL.
//
// It reads one JSON command per line on stdin and answers one JSON line per command on stdout (see ops.go). The
// first line it prints is {"ready":true,"grpc":"127.0.0.1:PORT"}.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"

	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus/pkg/v2/log"
	"github.com/milvus-io/milvus/pkg/v2/util/paramtable"
)

func main() {
	kafka := flag.String("kafka", "127.0.0.1:9092", "Kafka brokers")
	etcd := flag.String("etcd", "127.0.0.1:2379", "etcd endpoints")
	root := flag.String("root", "", "etcd root path of the emulated cluster (required)")
	prefix := flag.String("prefix", "", "channel prefix, msgChannel.chanNamePrefix.cluster (required)")
	pchannels := flag.Int("pchannels", 2, "number of DML pchannels")
	listen := flag.String("grpc", "127.0.0.1:0", "address of the DumpMessages server")
	flag.Parse()
	if *root == "" || *prefix == "" {
		fmt.Fprintln(os.Stderr, "wal26: -root and -prefix are required")
		os.Exit(2)
	}

	// Milvus logs to stdout by default; stdout carries the replies here.
	logger, props, err := log.InitLoggerWithWriteSyncer(&log.Config{Level: "warn"}, zapcore.AddSync(os.Stderr))
	if err != nil {
		fail(err)
	}
	log.ReplaceGlobals(logger, props)
	paramtable.Init()
	if err := paramtable.Get().Save("kafka.brokerList", *kafka); err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	w, err := openWAL(*prefix, *pchannels)
	if err != nil {
		fail(err)
	}
	defer w.close()
	meta, err := openMeta(ctx, *etcd, *root)
	if err != nil {
		fail(err)
	}
	defer meta.close()
	s := newSession(w, meta)

	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		fail(err)
	}
	server := grpc.NewServer(grpc.MaxSendMsgSize(64 << 20))
	milvuspb.RegisterMilvusServiceServer(server, &dumpServer{wal: w})
	go func() { _ = server.Serve(lis) }()
	defer server.Stop()

	out := json.NewEncoder(os.Stdout)
	_ = out.Encode(map[string]any{"ready": true, "grpc": lis.Addr().String()})

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
	fmt.Fprintln(os.Stderr, "wal26:", err)
	os.Exit(1)
}
