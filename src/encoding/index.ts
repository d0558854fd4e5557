export { BinaryReader, BinaryWriter, MalformedBinaryError } from './binary.js';
