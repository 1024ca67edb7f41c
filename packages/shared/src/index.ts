export {
  CdcError,
  ERROR_CODES,
  isCdcError,
  isErrorCode,
  isRetryable,
  invalidArgument,
  errorMessage,
} from './errors.js';
export type { ErrorCode, CdcErrorOptions } from './errors.js';
export { createLogger, REDACTED_PATHS } from './logger.js';
export { closeAll, handleShutdown, serverStep } from './lifecycle.js';
export { DEFAULT_METRICS_OPTIONS } from './process-metrics.js';
export { ConfigError, configOrExit, EX_CONFIG, withRenamedVariables } from './config-env.js';
export type { RenamedVariable } from './config-env.js';
export type {
  ClosableServer,
  ProcessLike,
  ServiceShutdownOptions,
  ShutdownPlan,
  ShutdownStep,
} from './lifecycle.js';
export type { Logger, LoggerOptions } from './logger.js';
export { DataType, MsgType } from './wire/messages.js';
export type {
  DataTypeName,
  DataTypeId,
  KnownMsgTypeName,
  ReplicateInfo,
  MsgBase,
  KeyValue,
  ColumnValues,
  ColumnKind,
  FieldColumn,
  PrimaryKeys,
  FunctionSchema,
  FieldDefaultValue,
  FieldSchema,
  CollectionSchema,
  InsertMessage,
  DeleteMessage,
  TimeTickMessage,
  CreateCollectionMessage,
  DropCollectionMessage,
  PartitionMessage,
  CreateIndexMessage,
  DropIndexMessage,
  AlterIndexMessage,
  LoadCollectionMessage,
  ReleaseCollectionMessage,
  LoadPartitionsMessage,
  ReleasePartitionsMessage,
  FlushMessage,
  CreateDatabaseMessage,
  DropDatabaseMessage,
  AlterDatabaseMessage,
  UnknownMessage,
  DecodedMessage,
  DecodedMessageType,
  KnownMessage,
  MessageHeaders,
  HeaderValue,
  JsonValue,
  RowValue,
  Row,
} from './wire/messages.js';
export type {
  DatabaseState,
  CollectionState,
  PartitionState,
  ConsistencyLevel,
  DatabaseInfo,
  MsgPosition,
  StartPosition,
  CollectionInfo,
  PartitionInfo,
  SourceTso,
  MetadataEvent,
  WatchOptions,
  SourceMetadata,
} from './meta/source-metadata.js';
/** The generated types of proto/cdc/v1 (`pb.Task`, `pb.Task__Output`, `pb.CdcServiceHandlers`, ...). */
export type * as pb from './generated/index.js';
export {
  PROTO_ROOT,
  CDC_PROTO_FILES,
  CDC_SERVICE_NAME,
  WORKER_SERVICE_NAME,
  PROTO_LOADER_OPTIONS,
} from './control-api/proto-files.js';
export {
  callUnary,
  openServerStream,
  serviceDefinition,
  warmServiceCodecs,
} from './control-api/proto-services.js';
export {
  MAX_BATCHED_REPORTS,
  MAX_WORKER_REASON_CHARS,
  cutText,
} from './control-api/report-limits.js';
export type { CdcServices, RequestOf, ResponseOf } from './control-api/proto-services.js';
export {
  ERROR_CODE_TRAILER,
  FIELD_TRAILER,
  RETRYABLE_TRAILER,
  RETRY_AFTER_TRAILER,
  errorFromTrailers,
} from './control-api/wire-errors.js';
export type { TrailerSource } from './control-api/wire-errors.js';
export {
  LEASE_QUEUE_NAME,
  LEASE_JOB_NAME,
  DEFAULT_QUEUE_PREFIX,
  leaseJobId,
  taskKeyPrefix,
  dmlChannelName,
  replicateChannelName,
  SNAPSHOT_QUEUE_NAME,
  SNAPSHOT_JOB_NAME,
  snapshotJobId,
} from './control-api/lease-job.js';
export type { LeaseJobData, SnapshotJobData } from './control-api/lease-job.js';
export {
  decodeMessage,
  decodeByType,
  decodeForPassThrough,
  messageTimeRange,
} from './wire/decode.js';
export { readDmlView, dmlHeaderOf, MAX_HEADER_STRING_BYTES } from './wire/dml-view.js';
export type { DmlHeader, DmlHeaderChanges, DmlView } from './wire/dml-view.js';
export { rewriteDml } from './wire/dml-rewrite.js';
export { readInsertColumns, primaryKeyValues, sameColumns } from './wire/insert-columns.js';
export type { ColumnSlice, InsertColumns } from './wire/insert-columns.js';
export {
  encodeUpsertColumns,
  decodeMutationStatus,
  upsertRequestAsInsert,
} from './wire/upsert-columns.js';
export type { UpsertColumnsRequest } from './wire/upsert-columns.js';
export { encodeMessage, msgTypeOf } from './wire/encode.js';
export {
  resolveMsgType,
  msgTypeFromHeaders,
  msgTypeFromName,
  msgTypeName,
  decodeMsgBase,
  streamingVersion,
} from './wire/msg-type.js';
export {
  insertToRows,
  deletePrimaryKeys,
  parseJsonBytes,
  DYNAMIC_FIELD_NAME,
} from './wire/columns.js';
export type { DeleteKeys } from './wire/columns.js';
export {
  encodeKafkaMessageId,
  decodeKafkaMessageId,
  encodePulsarMessageId,
  decodePulsarMessageId,
  encodeMsgPosition,
  decodeMsgPosition,
  msgPositionToBase64,
  msgPositionFromBase64,
  pulsarIdOrder,
  comparePulsarIds,
} from './wire/positions.js';
export type { PulsarIdOrder, PulsarMessageId } from './wire/positions.js';
export {
  WHOLE_MESSAGE_ENTRY,
  positionFromProto,
  positionToProto,
  protoMap,
  storedPositionFromProto,
  storedPositionToProto,
  wholeMessagePosition,
} from './wire/channel-position.js';
export type { ChannelPosition, Override, StoredPosition } from './wire/channel-position.js';
export {
  LOGICAL_BITS,
  composeTs,
  parseTs,
  tsToDate,
  tsToUnixMs,
  dateToTs,
  decodeTsoValue,
  encodeTsoValue,
} from './wire/tso.js';
export {
  decodeCollectionSchema,
  encodeCollectionSchema,
  decodeFieldSchema,
  encodeFieldSchema,
  typeParam,
} from './wire/schema.js';
export { EtcdSourceMetadata, createEtcdSourceMetadata } from './meta/etcd-source-metadata.js';
export type { EtcdSourceMetadataOptions } from './meta/etcd-source-metadata.js';
export {
  EtcdStandbyMetadata,
  createEtcdStandbyMetadata,
  standbyKeys,
} from './meta/etcd-standby-metadata.js';
export type { EtcdStandbyMetadataOptions } from './meta/etcd-standby-metadata.js';
export { grantName, rbacFromKvs } from './meta/standby-codec.js';
export type {
  AliasEntry,
  CollectionNaming,
  DatabaseNaming,
  MetaSource,
  RbacBinding,
  RbacGrant,
  RbacState,
  StandbyEvent,
  StandbyMetadata,
  StandbySnapshot,
} from './meta/standby-metadata.js';
export {
  TOMBSTONE,
  isTombstone,
  decodeDatabaseInfo,
  encodeDatabaseInfo,
  decodeCollectionInfo,
  encodeCollectionInfo,
  decodePartitionInfo,
  encodePartitionInfo,
} from './meta/etcd-codec.js';
export { sourceKeys } from './meta/keys.js';
export type { SourceKeys } from './meta/keys.js';
export { FIELD_NAME, primaryKeyFilter, stringLiteral } from './milvus/expr.js';
export { MAX_PAGE_SIZE, rowKey, scanRows } from './milvus/row-scan.js';
export type { QueryPage, RowScanOptions, ScannedRow } from './milvus/row-scan.js';
export { warmSdkProtos, withSharedSdkProtos } from './milvus/sdk-protos.js';
export { warmWireCodecs } from './wire/proto-root.js';
export {
  classifyStatus,
  classifyThrown,
  errorFromClass,
  isStatusOk,
  statusDetails,
  statusError,
  thrownError,
} from './milvus/status.js';
export type { MilvusStatusLike, NotFoundKind, StatusClass, StatusKind } from './milvus/status.js';
export { globCovers, globMatch, globsIntersect } from './scope/glob.js';
export {
  etcdTlsOptions,
  milvusTlsConfig,
  milvusTlsOn,
  nodeTlsOptions,
  tlsRejection,
  tlsRejectionMessage,
} from './tls/endpoint-tls.js';
export type { NodeTlsOptions, TlsSettings } from './tls/endpoint-tls.js';
export { mapCollectionName, mapDatabaseName, normalizeDatabase } from './scope/name-mapping.js';
export type { MappedName, NameMappingRule } from './scope/name-mapping.js';
export * from './wal/index.js';
export {
  ETCD_DEFAULT_MAX_REQUEST_BYTES,
  ETCD_GRPC_OVERHEAD_BYTES,
  ETCD_MAX_TXN_OPS,
  ETCD_RECEIVE_LIMIT_BYTES,
  etcdGrpcOptions,
  etcdPageKeys,
  prefixRange,
  scanPages,
  scanPrefix,
} from './meta/etcd-paging.js';
export type { EtcdRangeApi, ScanOptions, ScanPage } from './meta/etcd-paging.js';
