import { PulsarNativeClient } from '../services/worker/src/adapters/pulsar-native.js';
import { decodePulsarMessageId } from '@cdc/shared';
const c = await PulsarNativeClient.create('pulsar://127.0.0.1:6650', {});
const r = await c.createReader(`persistent://public/default/${process.argv[2]}`, 'earliest');
for (let i = 0; i < 30; i++) {
  const m = await r.readNext(1000);
  if (!m) { console.log('none'); break; }
  const id = decodePulsarMessageId(m.msgId);
  console.log(String(id.ledgerId), String(id.entryId), id.batchIndex, id.batchSize, m.data.length, m.data[0], JSON.stringify(m.properties), Buffer.from(m.data.subarray(0, 8)).toString('hex'), m.publishTimeMs);
}
await r.close(); await c.close();
