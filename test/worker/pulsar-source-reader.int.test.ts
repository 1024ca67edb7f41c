/**
 * PulsarSourceReader against a real Pulsar broker (PULSAR_URL, default pulsar://127.0.0.1:6650). pulsar-client's
 * native addon is built only where its prebuilt download is reachable, so without it (or without a broker) the
 * contract is skipped with the reason printed; the missing-addon error path is then checked instead.
 */
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  PulsarSourceReader,
  loadPulsarClient,
} from '../../services/worker/src/adapters/pulsar-source-reader.js';
import type { PulsarModule } from '../../services/worker/src/adapters/pulsar-source-reader.js';
import { describeSourceReaderContract } from '../contracts/source-reader.contract.js';
import type { SourceReaderFixture } from '../contracts/source-reader.contract.js';

const serviceUrl = process.env['PULSAR_URL'] ?? 'pulsar://127.0.0.1:6650';

function reachable(url: string, timeoutMs = 1_000): Promise<boolean> {
  const { hostname, port } = new URL(url.replace(/^pulsar(\+ssl)?:/, 'http:'));
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 6650) });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => {
      done(false);
    });
    socket.once('connect', () => {
      done(true);
    });
    socket.once('error', () => {
      done(false);
    });
  });
}

let pulsar: PulsarModule | undefined;
let libraryError: string | undefined;
try {
  pulsar = await loadPulsarClient();
} catch (err) {
  libraryError = err instanceof Error ? err.message.split('\n')[0] : String(err);
}
const skip =
  libraryError !== undefined
    ? `pulsar-client native library is not installed (${libraryError}); install it where its prebuilt download is reachable`
    : (await reachable(serviceUrl))
      ? undefined
      : `no Pulsar broker at ${serviceUrl}; set PULSAR_URL`;

interface Producer {
  send(m: { data: Buffer }): Promise<unknown>;
  close(): Promise<unknown>;
}

function pulsarFixture(): Promise<SourceReaderFixture> {
  const mod = pulsar!;
  const channel = `cdc-test-${randomUUID()}`;
  const client = new mod.Client({ serviceUrl, log: () => undefined }) as unknown as {
    createProducer(c: { topic: string; batchingEnabled: boolean }): Promise<Producer>;
    close(): Promise<unknown>;
  };
  let producer: Producer | undefined;
  return Promise.resolve({
    channel,
    newReader: () => new PulsarSourceReader({ serviceUrl, channel, probeTimeoutMs: 1_000 }),
    produce: async (values) => {
      producer ??= await client.createProducer({
        topic: `persistent://public/default/${channel}`,
        batchingEnabled: false, // as Milvus produces
      });
      for (const v of values) await producer.send({ data: Buffer.from(v) });
    },
    dispose: async () => {
      await producer?.close();
      await client.close();
    },
  });
}

describeSourceReaderContract('pulsar', pulsarFixture, {
  skip,
  skipRetention:
    'deleting a prefix of a Pulsar topic needs the admin REST API, which this suite does not use',
});

describe('PulsarSourceReader without the native library', () => {
  if (libraryError !== undefined)
    console.warn(`[pulsar reader] native library missing: ${libraryError}`);
  it.skipIf(libraryError === undefined)(
    'fails open() with FAILED_PRECONDITION that says why',
    async () => {
      const reader = new PulsarSourceReader({ serviceUrl, channel: 'cdc-test-no-native' });
      await expect(reader.open({ kind: 'earliest' })).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        retryable: false,
        message: expect.stringContaining(
          'pulsar-client native library is not installed',
        ) as unknown,
      });
      await reader.close();
    },
  );
});
