import { createRequire } from 'node:module';
import type { PackageDefinition } from '@grpc/proto-loader';

/**
 * protobufjs names the implicit entry message of `map<K, V> foo` "Foo" instead of "FooEntry", and Go's protobuf
 * (grpcurl) rejects such descriptors ("invalid map: incorrect implicit map entry name"). This rewrites the file
 * descriptors served by reflection: nested map-entry types get the "Entry" suffix and fields point at them.
 * protobufjs is loaded from @grpc/proto-loader's own dependency so both always agree.
 */
interface DescriptorField {
  typeName?: string;
}
interface DescriptorMessage {
  name: string;
  field?: DescriptorField[];
  nestedType?: DescriptorMessage[];
  options?: { mapEntry?: boolean };
}
interface FileDescriptor {
  messageType?: DescriptorMessage[];
}
interface DescriptorCodec {
  decode(b: Uint8Array): FileDescriptor;
  encode(m: FileDescriptor): { finish(): Uint8Array };
}

const requireFromLoader = createRequire(
  createRequire(import.meta.url).resolve('@grpc/proto-loader'),
);
const descriptor = requireFromLoader('protobufjs/ext/descriptor') as {
  FileDescriptorProto: DescriptorCodec;
};

function fixMessage(m: DescriptorMessage): void {
  const renamed = new Map<string, string>();
  for (const nested of m.nestedType ?? []) {
    if (nested.options?.mapEntry === true && !nested.name.endsWith('Entry')) {
      renamed.set(nested.name, `${nested.name}Entry`);
      nested.name = `${nested.name}Entry`;
    }
    fixMessage(nested);
  }
  for (const f of m.field ?? []) {
    if (f.typeName === undefined) continue;
    const last = f.typeName.slice(f.typeName.lastIndexOf('.') + 1);
    const to = renamed.get(last);
    if (to !== undefined)
      f.typeName = `${f.typeName.slice(0, f.typeName.length - last.length)}${to}`;
  }
}

const cache = new Map<Buffer, Buffer>();

function fixFile(bytes: Buffer): Buffer {
  const known = cache.get(bytes);
  if (known !== undefined) return known;
  const file = descriptor.FileDescriptorProto.decode(bytes);
  for (const m of file.messageType ?? []) fixMessage(m);
  const fixed = Buffer.from(descriptor.FileDescriptorProto.encode(file).finish());
  cache.set(bytes, fixed);
  return fixed;
}

export function fixMapEntryNames(def: PackageDefinition): PackageDefinition {
  const out: PackageDefinition = {};
  for (const [name, value] of Object.entries(def)) {
    const protos = (value as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos;
    out[name] =
      protos === undefined
        ? value
        : ({ ...value, fileDescriptorProtos: protos.map(fixFile) } as typeof value);
  }
  return out;
}
