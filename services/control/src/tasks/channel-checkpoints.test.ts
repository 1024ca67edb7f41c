import { describe, expect, it } from 'vitest';
import { emptyChannelRecord, type ChannelRecord } from '../domain/model.js';
import { channelCheckpoints } from './channel-checkpoints.js';

const at = (ts: string, fanOut: Record<string, string> = {}): ChannelRecord => ({
  ...emptyChannelRecord(),
  position: { msg_id: '', timestamp: ts, batch_index: 0 },
  fanOutPositions: Object.fromEntries(
    Object.entries(fanOut).map(([uri, t]) => [uri, { msg_id: '', timestamp: t, batch_index: 0 }]),
  ),
});

describe('channelCheckpoints', () => {
  it('gives each DML channel its lowest checkpoint over the targets, leaving out the ops channel and unread ones', () => {
    const records = new Map<string, ChannelRecord>([
      ['p-dml_0', at('500')],
      ['p-dml_1', at('900', { 'b:19530': '700', 'c:19530': '800' })],
      ['p-dml_2', emptyChannelRecord()],
      ['p-replicate-msg', at('999')],
    ]);
    expect({ ...channelCheckpoints(records, 'p-replicate-msg') }).toEqual({
      'p-dml_0': '500',
      'p-dml_1': '700',
    });
  });
});
