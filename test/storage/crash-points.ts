/**
 * Power failure before any chosen file-system call (not a test file itself). armCrash() on the
 * MemoryFileSystem crashes after a sync; this crashes before the n-th call that changes the
 * disk (a write, truncate, sync, creation, rename or removal), so a test can walk an operation
 * through every step it takes.
 */
import type { CrashOptions, FileSystem } from '../../storage/index.js';
import { MemoryFileSystem, writeThenSync } from '../../storage/index.js';

/** The calls that change what is on the disk, or what of it is durable. */
const DISK_CHANGING: ReadonlySet<string> = new Set(['writeAt', 'truncate', 'fdatasync', 'fdatasyncNow', 'rename', 'remove', 'syncDir', 'open']);

export class CrashPoints {
  /** Pass this to the code under test: the MemoryFileSystem, counting and crashing. */
  readonly fs: FileSystem;
  private countdown = Number.POSITIVE_INFINITY;
  private options: CrashOptions = {};
  private next: MemoryFileSystem | null = null;
  /** Disk-changing calls since the last arm(). */
  calls = 0;

  constructor(readonly inner: MemoryFileSystem) {
    const wrap = (name: string, method: (...args: unknown[]) => unknown) => (...args: unknown[]): unknown => {
      if (DISK_CHANGING.has(name)) {
        if (this.countdown === 0 && this.next === null) this.next = this.inner.crash(this.options);
        this.countdown--;
        this.calls++;
      }
      return method.apply(inner, args); // after a crash the dead file system throws StorageIoError
    };
    this.fs = new Proxy(inner, {
      get: (target, key: keyof FileSystem) => {
        // A write and its sync, each a step of its own (as the in-memory file system runs it).
        if (key === 'writeDurably') return (...args: Parameters<FileSystem['writeDurably']>) => writeThenSync(this.fs, ...args);
        const value: unknown = target[key];
        return typeof value === 'function' ? wrap(String(key), value as (...args: unknown[]) => unknown) : value;
      },
    });
  }

  /** Crashes right before the (afterCalls + 1)-th disk-changing call from now (Infinity: never). */
  arm(afterCalls: number, options: CrashOptions = {}): void {
    this.countdown = afterCalls;
    this.options = options;
    this.calls = 0;
  }

  /** The next process's file system: the one the armed crash made, or a crash now if none came. */
  crashNow(options: CrashOptions = {}): MemoryFileSystem {
    this.countdown = Number.POSITIVE_INFINITY;
    const next = this.next ?? this.inner.crash(options);
    this.next = null;
    return next;
  }

  /** Whether the armed crash has happened. */
  get crashed(): boolean {
    return this.next !== null;
  }
}
