import { readFileSync } from 'node:fs';

import protobuf from 'protobufjs';

/**
 * Reads a .proto file that sits beside this module (in src/ under vitest, in dist/ where
 * `npm run build` copies it). Read once, when a codec is first built.
 */
export function readSchema(fileName: string): string {
  return readFileSync(new URL(`./${fileName}`, import.meta.url), 'utf8');
}

/**
 * Parses one of our schemas. The first call also switches protobufjs to decode
 * 64-bit integer fields as plain JS numbers instead of Long objects: our indexes and terms
 * stay below 2^53, and a Long per field would be two allocations per entry on the hot path
 * (append batches carry an index and a term for every entry).
 *
 * This is a process-wide setting of the protobufjs module. Nothing else in quorumlog uses
 * protobufjs, and it is applied lazily (when a codec is built), not on import.
 */
export function parseSchema(protoText: string): protobuf.Root {
  useNumbersFor64BitFields();
  const root = protobuf.parse(protoText, { keepCase: false }).root;
  root.resolveAll();
  emptyBytesAreBytes(root);
  return root;
}

/** A shared empty buffer: nothing can be written into a zero-length view. */
const EMPTY_BYTES = new Uint8Array(0);

/**
 * proto3 leaves an empty bytes field off the wire, and protobufjs then answers its default,
 * a plain `[]`, where our types (and TextDecoder, Buffer.concat ...) expect a Uint8Array.
 * Making the default an empty Uint8Array fixes every decoded message, nested ones included.
 */
function emptyBytesAreBytes(namespace: protobuf.NamespaceBase): void {
  // Bounded by the schema's (fixed, small) number of types.
  for (const nested of namespace.nestedArray) {
    if (nested instanceof protobuf.Type) {
      for (const field of nested.fieldsArray) {
        if (field.type !== 'bytes' || field.repeated) continue;
        field.typeDefault = EMPTY_BYTES;
        field.defaultValue = EMPTY_BYTES;
        (nested.ctor.prototype as Record<string, unknown>)[field.name] = EMPTY_BYTES;
      }
    }
    if (nested instanceof protobuf.Namespace) emptyBytesAreBytes(nested);
  }
}

/** Looks up a message type that the schema must define (a missing one is a programmer error). */
export function schemaType(root: protobuf.Root, name: string): protobuf.Type {
  return root.lookupType(name);
}

function useNumbersFor64BitFields(): void {
  if (protobuf.util.Long === null || protobuf.util.Long === undefined) return;
  // The typings declare util.Long as a constructor; protobufjs documents null as "no Long
  // library", which makes Reader.uint64() and friends return numbers.
  (protobuf.util as { Long: unknown }).Long = null;
  protobuf.configure();
}
