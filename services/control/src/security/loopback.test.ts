import { describe, expect, it } from 'vitest';
import { isLoopbackAddress } from './server-security.js';

describe('isLoopbackAddress', () => {
  it('knows the addresses only this machine reaches', () => {
    for (const a of ['127.0.0.1:50051', '127.1.2.3:1', 'localhost:50051', '[::1]:50051'])
      expect(isLoopbackAddress(a)).toBe(true);
    for (const a of [
      '0.0.0.0:50051',
      '[::]:50051',
      '10.0.0.5:50051',
      'cdc.example.com:443',
      '127.0.0.1.nip.io:1',
    ])
      expect(isLoopbackAddress(a)).toBe(false);
  });
});
