export { WalMessageType } from './wal-message.js';
export type { WalMessage, WalOp } from './wal-message.js';
export {
  WAL_LIMITS,
  formatBase36,
  isWalMessage,
  parseBase36,
  parseWalProperties,
  propertyMap,
} from './properties.js';
export type { WalProperties } from './properties.js';
export { decodeWalMessage } from './decode-wal.js';
export { WalAssembler } from './assembler.js';
export type { WalEvent, WalRecord } from './assembler.js';
export {
  CCHANNEL_KEY,
  STREAMING_VERSION_KEY,
  decodeCChannelPChannel,
  decodeFieldIndex,
  decodeStreamingVersion,
  fieldIndexKey,
} from './meta.js';
export type { FieldIndexInfo } from './meta.js';
