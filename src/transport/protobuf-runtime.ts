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
  return protobuf.parse(protoText, { keepCase: false }).root;
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
