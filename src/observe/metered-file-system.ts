import type { DirectoryLock, FileHandle, FileSystem, OpenMode } from '../../storage/index.js';

/** What a MeteredFileSystem reports: each sync with its duration and the bytes it made durable, and each write's size. */
export interface FileSystemMeter {
  written(bytes: number): void;
  synced(seconds: number, bytes: number): void;
}

/**
 * A FileSystem that passes every call through to another and reports writes and data syncs
 * to a meter. Bytes a sync made durable are those written to that handle since its previous
 * sync (a group commit's size, for the log's segment files). Adds no allocation per write.
 */
export class MeteredFileSystem implements FileSystem {
  /** Bytes written to each open handle since its last sync began. */
  private readonly unsynced = new WeakMap<FileHandle, number>();

  constructor(
    private readonly inner: FileSystem,
    private readonly meter: FileSystemMeter,
    private readonly nowMs: () => number,
  ) {}

  open(path: string, mode: OpenMode): FileHandle {
    return this.inner.open(path, mode);
  }

  size(handle: FileHandle): number {
    return this.inner.size(handle);
  }

  readAt(handle: FileHandle, into: Uint8Array, position: number): number {
    return this.inner.readAt(handle, into, position);
  }

  writeAt(handle: FileHandle, data: Uint8Array, position: number): void {
    this.inner.writeAt(handle, data, position);
    this.unsynced.set(handle, (this.unsynced.get(handle) ?? 0) + data.length);
    this.meter.written(data.length);
  }

  truncate(handle: FileHandle, sizeBytes: number): void {
    this.inner.truncate(handle, sizeBytes);
  }

  async fdatasync(handle: FileHandle): Promise<void> {
    const bytes = this.takeUnsynced(handle);
    const started = this.nowMs();
    await this.inner.fdatasync(handle);
    this.meter.synced((this.nowMs() - started) / 1000, bytes);
  }

  fdatasyncNow(handle: FileHandle): void {
    const bytes = this.takeUnsynced(handle);
    const started = this.nowMs();
    this.inner.fdatasyncNow(handle);
    this.meter.synced((this.nowMs() - started) / 1000, bytes);
  }

  close(handle: FileHandle): void {
    this.unsynced.delete(handle);
    this.inner.close(handle);
  }

  rename(from: string, to: string): void {
    this.inner.rename(from, to);
  }

  remove(path: string): void {
    this.inner.remove(path);
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
    const bytes = this.unsynced.get(handle) ?? 0;
    if (bytes !== 0) this.unsynced.set(handle, 0);
    return bytes;
  }
}
