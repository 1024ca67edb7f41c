import { describe, expect, it } from 'vitest';
import { ConfigError } from '@cdc/shared';
import { controlTls, loadWorkerConfig } from './config.js';

describe('worker configuration', () => {
  it('reads the names that say which side they configure, and the shared CDC_ names', () => {
    const { config, deprecations } = loadWorkerConfig({
      WORKER_CONTROL_ADDRESS: 'control:50051',
      WORKER_CONTROL_TLS_CERT_FILE: '/certs/worker.crt',
      CDC_REDIS_URL: 'redis://redis:6379',
      CDC_QUEUE_PREFIX: 'cdc',
      WORKER_METRICS_PORT: '0',
    });
    expect(config).toMatchObject({
      WORKER_CONTROL_ADDRESS: 'control:50051',
      WORKER_CONTROL_TLS_CERT_FILE: '/certs/worker.crt',
      CDC_REDIS_URL: 'redis://redis:6379',
      CDC_QUEUE_PREFIX: 'cdc',
      WORKER_METRICS_PORT: 0,
    });
    expect(deprecations).toEqual([]);
  });

  it('still reads a former name, with one deprecation warning each; the current name wins', () => {
    const { config, deprecations } = loadWorkerConfig({
      CONTROL_ADDRESS: 'old:50051',
      QUEUE_PREFIX: 'old',
      CDC_QUEUE_PREFIX: 'new',
    });
    expect(config.WORKER_CONTROL_ADDRESS).toBe('old:50051');
    expect(config.CDC_QUEUE_PREFIX).toBe('new');
    expect(deprecations).toEqual([
      'CONTROL_ADDRESS is deprecated: set WORKER_CONTROL_ADDRESS instead (CONTROL_ADDRESS is read until the next release)',
      'QUEUE_PREFIX is deprecated and ignored: CDC_QUEUE_PREFIX is set',
    ]);
  });

  it('reads the former tick-carry limit as the clock lead (a safe value for it either way)', () => {
    expect(loadWorkerConfig({}).config.WORKER_MAX_CLOCK_LEAD_MS).toBe(60_000);
    const { config, deprecations } = loadWorkerConfig({ WORKER_MAX_TICK_CARRY_MS: '600000' });
    expect(config.WORKER_MAX_CLOCK_LEAD_MS).toBe(600_000);
    expect(deprecations).toHaveLength(1);
  });

  it('throws a ConfigError naming the variable instead of exiting', () => {
    expect(() => loadWorkerConfig({ CDC_REDIS_URL: 'not a url' })).toThrow(ConfigError);
    const { config } = loadWorkerConfig({ WORKER_CONTROL_TLS_CA_FILE: '/missing/ca.crt' });
    const read = (): Buffer => {
      throw Object.assign(new Error('no'), { code: 'ENOENT' });
    };
    expect(() => controlTls(config, read)).toThrow(
      expect.objectContaining({
        issues: ['WORKER_CONTROL_TLS_CA_FILE: cannot read /missing/ca.crt (ENOENT)'],
      }),
    );
  });
});
