import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { loadSync } from '@grpc/proto-loader';
import { CDC_PROTO_FILES, PROTO_LOADER_OPTIONS } from '@cdc/shared';
import { fixMapEntryNames, mapEntryName } from './reflection-descriptors.js';

interface Message {
  name: string;
  field?: { name?: string; typeName?: string }[];
  nestedType?: Message[];
  options?: { mapEntry?: boolean };
}
const descriptor = createRequire(createRequire(import.meta.url).resolve('@grpc/proto-loader'))(
  'protobufjs/ext/descriptor',
) as { FileDescriptorProto: { decode(b: Uint8Array): { name?: string; messageType?: Message[] } } };

/** Every (field, entry type name) pair of the map fields in the served descriptors. */
function mapFields(): { field: string; entry: string; typeName: string }[] {
  const def = fixMapEntryNames(loadSync([...CDC_PROTO_FILES], PROTO_LOADER_OPTIONS));
  const files = new Map<string, Uint8Array>();
  for (const v of Object.values(def))
    for (const b of (v as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos ?? [])
      files.set(b.toString('base64'), b);
  const out: { field: string; entry: string; typeName: string }[] = [];
  const walk = (m: Message): void => {
    const entries = new Map(
      (m.nestedType ?? []).filter((n) => n.options?.mapEntry).map((n) => [n.name, n]),
    );
    for (const f of m.field ?? []) {
      const last = f.typeName?.slice(f.typeName.lastIndexOf('.') + 1) ?? '';
      if (entries.has(last))
        out.push({ field: f.name ?? '', entry: last, typeName: f.typeName ?? '' });
    }
    for (const n of m.nestedType ?? []) walk(n);
  };
  for (const b of files.values())
    for (const m of descriptor.FileDescriptorProto.decode(b).messageType ?? []) walk(m);
  return out;
}

describe('reflection descriptors', () => {
  it('names map entries the way protoc (and Go, grpcurl) expect', () => {
    expect(mapEntryName('positions')).toBe('PositionsEntry');
    expect(mapEntryName('fan_out_positions')).toBe('FanOutPositionsEntry');
    const maps = mapFields();
    expect(maps.map((m) => m.field)).toEqual(
      expect.arrayContaining(['positions', 'collections', 'fan_out_positions', 'target_positions']),
    );
    for (const m of maps) {
      expect(m.entry, m.field).toBe(mapEntryName(m.field));
      expect(m.typeName.slice(m.typeName.lastIndexOf('.') + 1), m.typeName).toBe(
        mapEntryName(m.field),
      );
    }
  });
});
