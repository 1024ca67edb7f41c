package main

import (
	"fmt"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/milvus-io/milvus-proto/go-api/v2/commonpb"
	"github.com/milvus-io/milvus-proto/go-api/v2/milvuspb"
	"github.com/milvus-io/milvus/pkg/v2/streaming/util/message"
	"github.com/milvus-io/milvus/pkg/v2/streaming/util/options"
	"github.com/milvus-io/milvus/pkg/v2/streaming/util/types"
	"github.com/milvus-io/milvus/pkg/v2/streaming/walimpls"
)

// dumpServer serves the proxy's DumpMessages from the Kafka WAL: every persisted message of the pchannel from
// start_message_id (inclusive), filtered by start_timetick, until end_timetick is passed; with no end_timetick it
// follows the WAL until the caller cancels.
type dumpServer struct {
	milvuspb.UnimplementedMilvusServiceServer
	wal *wal
}

func (d *dumpServer) DumpMessages(req *milvuspb.DumpMessagesRequest, stream milvuspb.MilvusService_DumpMessagesServer) error {
	if req.GetPchannel() == "" || req.GetStartMessageId() == nil {
		return status.Error(codes.InvalidArgument, "pchannel and start_message_id required")
	}
	start, err := message.UnmarshalMessageID(req.GetStartMessageId())
	if err != nil {
		return status.Error(codes.InvalidArgument, fmt.Sprintf("start_message_id: %v", err))
	}
	ctx := stream.Context()
	impl, err := d.wal.get(ctx, req.GetPchannel(), types.AccessModeRO)
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	scanner, err := impl.Read(ctx, walimpls.ReadOption{Name: "dump-" + uuid.NewString(), DeliverPolicy: options.DeliverPolicyStartFrom(start)})
	if err != nil {
		return status.Error(codes.Unavailable, err.Error())
	}
	defer scanner.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-scanner.Chan():
			if !ok {
				if err := scanner.Error(); err != nil {
					return status.Error(codes.Unavailable, err.Error())
				}
				return nil
			}
			if req.GetEndTimetick() > 0 && msg.TimeTick() > req.GetEndTimetick() {
				return nil
			}
			if req.GetStartTimetick() > 0 && msg.TimeTick() < req.GetStartTimetick() {
				continue
			}
			if err := stream.Send(&milvuspb.DumpMessagesResponse{Response: &milvuspb.DumpMessagesResponse_Message{
				Message: &commonpb.ImmutableMessage{
					Id:         msg.MessageID().IntoProto(),
					Payload:    msg.IntoImmutableMessageProto().GetPayload(),
					Properties: msg.Properties().ToRawMap(),
				},
			}}); err != nil {
				return err
			}
		}
	}
}
