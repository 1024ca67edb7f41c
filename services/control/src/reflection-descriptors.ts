import { createRequire } from 'node:module';
import type { PackageDefinition } from '@grpc/proto-loader';

/**
 * protobufjs names the implicit entry message of `map<K, V> foo_bar` "Foo_bar" instead of protoc's "FooBarEntry", and
 * Go's protobuf (grpcurl) rejects such descriptors ("invalid map: incorrect implicit map entry name"). This rewrites
 * the file descriptors served by reflection: each map-entry type gets the name protoc gives it, and the field points at
 * it. protobufjs is loaded from @grpc/proto-loader's own dependency so both always agree.
 */
interface DescriptorField {
  name?: string;
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

/** protoc's name for the entry message of map field `field`: CamelCase of the field name plus "Entry". */
export function mapEntryName(field: string): string {
  return `${field
    .split('_')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('')}Entry`;
}

function fixMessage(m: DescriptorMessage): void {
  const entries = new Map<string, DescriptorMessage>();
  for (const nested of m.nestedType ?? []) {
    if (nested.options?.mapEntry === true) entries.set(nested.name, nested);
    fixMessage(nested);
  }
  for (const f of m.field ?? []) {
    if (f.typeName === undefined || f.name === undefined) continue;
    const last = f.typeName.slice(f.typeName.lastIndexOf('.') + 1);
    const entry = entries.get(last);
    if (entry === undefined) continue;
    entry.name = mapEntryName(f.name);
    f.typeName = `${f.typeName.slice(0, f.typeName.length - last.length)}${entry.name}`;
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
