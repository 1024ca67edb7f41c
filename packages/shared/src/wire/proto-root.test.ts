import { describe, expect, it } from 'vitest';
import { P, protoType, warmWireCodecs } from './proto-root.js';

describe('warmWireCodecs', () => {
  it('has the codec of every message type generated before its first record', () => {
    expect(warmWireCodecs()).toBe(Object.keys(P).length);
    // protobufjs installs a type's generated functions as own properties when it builds them (Type#setup).
    for (const name of Object.values(P)) {
      const t = protoType(name);
      for (const fn of ['decode', 'encode', 'toObject', 'fromObject'])
        expect(Object.hasOwn(t, fn), `${name}.${fn}`).toBe(true);
    }
  });
});
