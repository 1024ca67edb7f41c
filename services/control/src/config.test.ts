import { describe, expect, it } from 'vitest';
import { ConfigError, loadControlConfig } from './config.js';

function issues(env: Record<string, string>): readonly string[] {
  try {
    loadControlConfig({ CONTROL_DEV_EPHEMERAL_KEY: 'true', ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

describe('loadControlConfig: lease timings', () => {
  it('takes an idle report interval of 0 (off) or at least the report interval', () => {
    expect(issues({ CONTROL_IDLE_REPORT_INTERVAL_MS: '0' })).toEqual([]);
    expect(issues({ CONTROL_IDLE_REPORT_INTERVAL_MS: '10000' })).toEqual([]);
    expect(issues({ CONTROL_IDLE_REPORT_INTERVAL_MS: '500' })).toEqual([
      'CONTROL_IDLE_REPORT_INTERVAL_MS: must be 0 (off) or at least CONTROL_REPORT_INTERVAL_MS',
    ]);
  });

  it('still refuses a handover time that a cut-off worker could outlast', () => {
    expect(issues({ CONTROL_LEASE_HANDOVER_MS: '3000' })).toEqual([
      expect.stringContaining('CONTROL_LEASE_HANDOVER_MS: must exceed'),
    ]);
  });
});
