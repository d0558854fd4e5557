/**
 * A FileSystem that is another with some methods replaced, for tests that watch or hold the
 * log's calls (not a test file itself).
 */
import { type FileSystem, writeThenSync } from '../../storage/index.js';

/**
 * `inner` with the methods in `overrides` replaced. writeDurably, unless replaced, runs as
 * writeAt then fdatasync through the result (writeThenSync, as the in-memory file system runs
 * it), so that a replaced writeAt or fdatasync also sees a sync-mode group's write and sync.
 */
export function withOverrides<T extends FileSystem>(inner: T, overrides: Partial<FileSystem>): T {
  const fs: T = new Proxy(inner, {
    get: (target, key: string | symbol) => {
      const replaced: unknown = overrides[key as keyof FileSystem];
      if (replaced !== undefined) return replaced;
      if (key === 'writeDurably') return (...args: Parameters<FileSystem['writeDurably']>) => writeThenSync(fs, ...args);
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return fs;
}
