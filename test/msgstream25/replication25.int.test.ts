/**
 * End to end from a Milvus 2.5-shaped source: the msgstream25 producer writes with Milvus 2.5.5's own msgstream code
 * into the real Kafka (msg_type headers on Produce, none on Broadcast, zstd) and keeps the etcd metadata in 2.5's
 * layout (SuffixSnapshot copies, tombstones). The workload and its checks: test/helpers/msgstream-replication.ts.
 *
 * What the 2.3.5 target cannot hold (Float16/BFloat16/Sparse vectors, nullable fields, default values) is checked
 * one step earlier on the same producer's records: services/worker/src/replication/msgstream25-golden.test.ts.
 */
import { describeMsgstreamReplication } from '../helpers/msgstream-replication.js';

describeMsgstreamReplication({
  title: '2.5 source (Milvus 2.5.5 msgstream on Kafka) end to end',
  producer: 'msgstream25',
});
