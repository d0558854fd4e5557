import { durableWriteEnd, type DirectoryLock, type FileHandle, type FileSystem, type OpenMode } from '../../storage/index.js';
import type { DataDirSize, TrackedFile } from './data-dir-size.js';

/** What a MeteredFileSystem reports: each sync with its duration and the bytes it made durable, and each write's size. */
export interface FileSystemMeter {
  written(bytes: number): void;
  synced(seconds: number, bytes: number): void;
}

/** What the file system keeps per open handle. */
interface HandleState {
  /** Bytes written to the handle since its last sync began. */
  unsynced: number;
  /** The file's size as `sizes` tracks it; null without `sizes`. */
  readonly file: TrackedFile | null;
}

/**
 * A FileSystem that passes every call through to another and reports writes and data syncs
 * to a meter. Bytes a sync made durable are those written to that handle since its previous
 * sync (a group commit's size, for the log's segment files). With `sizes`, it also keeps the
 * size of every file it opens current there (opens, writes past the end, truncates, renames,
 * removals), so the data directory's size needs no walk. Adds no allocation per write.
 */
export class MeteredFileSystem implements FileSystem {
  private readonly handles = new WeakMap<FileHandle, HandleState>();

  constructor(
    private readonly inner: FileSystem,
    private readonly meter: FileSystemMeter,
    private readonly nowMs: () => number,
    private readonly sizes: DataDirSize | null = null,
  ) {}

  open(path: string, mode: OpenMode): FileHandle {
    const handle = this.inner.open(path, mode);
    this.handles.set(handle, { unsynced: 0, file: this.sizes?.track(path, this.inner.size(handle)) ?? null });
    return handle;
  }

  size(handle: FileHandle): number {
    return this.inner.size(handle);
  }

  readAt(handle: FileHandle, into: Uint8Array, position: number): number {
    return this.inner.readAt(handle, into, position);
  }

  writeAt(handle: FileHandle, data: Uint8Array, position: number): void {
    this.inner.writeAt(handle, data, position);
    const state = this.stateOf(handle);
    state.unsynced += data.length;
    const end = position + data.length;
    if (state.file !== null && end > state.file.sizeBytes) state.file.sizeBytes = end;
    this.meter.written(data.length);
  }

  truncate(handle: FileHandle, sizeBytes: number): void {
    this.inner.truncate(handle, sizeBytes);
    const file = this.stateOf(handle).file;
    if (file !== null) file.sizeBytes = sizeBytes;
  }

  /** Not an async function: a `then` on the inner promise is one promise fewer per sync than an await. */
  fdatasync(handle: FileHandle): Promise<void> {
    const bytes = this.takeUnsynced(handle);
    const started = this.nowMs();
    return this.inner.fdatasync(handle).then(() => this.meter.synced((this.nowMs() - started) / 1000, bytes));
  }

  /** A write and a sync in one: metered as the write of the padded bytes, then a sync of everything unsynced with them. */
  writeDurably(handle: FileHandle, data: Uint8Array, position: number, zerosAfter = 0): Promise<void> {
    const end = durableWriteEnd(position, data.length + zerosAfter);
    const state = this.stateOf(handle);
    if (state.file !== null && end > state.file.sizeBytes) state.file.sizeBytes = end;
    this.meter.written(end - position);
    const bytes = this.takeUnsynced(handle) + end - position;
    const started = this.nowMs();
    return this.inner.writeDurably(handle, data, position, zerosAfter).then(() => this.meter.synced((this.nowMs() - started) / 1000, bytes));
  }

  fdatasyncNow(handle: FileHandle): void {
    const bytes = this.takeUnsynced(handle);
    const started = this.nowMs();
    this.inner.fdatasyncNow(handle);
    this.meter.synced((this.nowMs() - started) / 1000, bytes);
  }

  close(handle: FileHandle): void {
    this.handles.delete(handle);
    this.inner.close(handle);
  }

  rename(from: string, to: string): void {
    this.inner.rename(from, to);
    this.sizes?.renamed(from, to);
  }

  remove(path: string): void {
    this.inner.remove(path);
    this.sizes?.removed(path);
  }

  list(dir: string): string[] {
    return this.inner.list(dir);
  }

  syncDir(dir: string): Promise<void> {
    return this.inner.syncDir(dir);
  }

  mkdir(dir: string): void {
    this.inner.mkdir(dir);
  }

  lockDir(dir: string): DirectoryLock {
    return this.inner.lockDir(dir);
  }

  /** Writes issued before a sync starts are the ones it covers; later ones count for the next. */
  private takeUnsynced(handle: FileHandle): number {
    const state = this.stateOf(handle);
    const bytes = state.unsynced;
    state.unsynced = 0;
    return bytes;
  }

  /** A handle this file system did not open (none should reach it) is metered, not sized. */
  private stateOf(handle: FileHandle): HandleState {
    let state = this.handles.get(handle);
    if (state === undefined) {
      state = { unsynced: 0, file: null };
      this.handles.set(handle, state);
    }
    return state;
  }
}
