import type { BinaryReader, BinaryWriter } from '../encoding/index.js';
import { BrokerSnapshotError } from './errors.js';

/**
 * Field helpers the broker snapshot's parts share: the checks that turn bytes that cannot
 * be a state into a BrokerSnapshotError before any part of a state is built from them.
 */

/** A log time that may be "never" (Infinity): a double, so Infinity round-trips. */
export function writeTimeOrNever(w: BinaryWriter, ms: number): void {
  w.f64(ms);
}

export function readTimeOrNever(r: BinaryReader, what: string): number {
  const ms = r.f64();
  if (ms !== Infinity && !(Number.isSafeInteger(ms) && ms >= 0)) throw new BrokerSnapshotError(`${what} is ${ms}, neither a time nor never`);
  return ms;
}

/** An offset that may be -1 ("none yet": a delayed batch, an undecided transaction). */
export function writeOffsetOrNone(w: BinaryWriter, offset: number): void {
  w.f64(offset);
}

export function readOffsetOrNone(r: BinaryReader, what: string): number {
  const offset = r.f64();
  if (!(Number.isSafeInteger(offset) && offset >= -1)) throw new BrokerSnapshotError(`${what} is ${offset}, neither an offset nor -1`);
  return offset;
}

/**
 * A count of items that each take at least `itemBytesMin` bytes: one larger than the bytes
 * left could hold is malformed, caught before a loop or an array is sized by it.
 */
export function readCount(r: BinaryReader, itemBytesMin: number, what: string): number {
  const count = r.u32();
  if (count * itemBytesMin > r.remaining) throw new BrokerSnapshotError(`${count} ${what} cannot fit in the ${r.remaining} bytes left`);
  return count;
}

/** One of `names` by its position (written as u8). */
export function readNamed<T>(r: BinaryReader, names: readonly T[], what: string): T {
  const k = r.u8();
  const name = names[k];
  if (name === undefined) throw new BrokerSnapshotError(`unknown ${what} ${k}`);
  return name;
}

/** Position of `name` in `names` (an assertion: the state holds only known names). */
export function nameIndex<T>(names: readonly T[], name: T): number {
  const k = names.indexOf(name);
  if (k < 0) throw new Error(`broker: snapshot of an unknown value ${String(name)}`);
  return k;
}
