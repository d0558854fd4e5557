import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/**
 * scrypt's cost parameters, recorded beside each hash so that a file written with one set
 * still verifies after the defaults change. N = 2^14, r = 8 takes about 50 ms and 16 MiB per
 * check on one core: slow on purpose (a stolen users file costs that much per guess), which
 * is why the node caches successful checks (PasswordVerifier).
 */
export interface ScryptParameters {
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly keyBytes: number;
}

export const SCRYPT_DEFAULTS: ScryptParameters = { N: 16_384, r: 8, p: 1, keyBytes: 32 };

/** Bounds on parameters read from a file: a hand-edited N of 2^30 must not eat the node's memory. */
const N_MAX = 1 << 20;
const SALT_BYTES = 16;

/** One user's stored secret: the scrypt parameters, the per-user random salt and the derived key. */
export interface PasswordHash {
  readonly algorithm: 'scrypt';
  readonly params: ScryptParameters;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Hashes `password` with a fresh random salt. */
export async function hashPassword(password: string, params: ScryptParameters = SCRYPT_DEFAULTS): Promise<PasswordHash> {
  checkParameters(params);
  const salt = randomBytes(SALT_BYTES);
  return { algorithm: 'scrypt', params, salt, hash: await derive(password, salt, params) };
}

/** Whether `password` is the one `stored` was made from; compares in constant time. */
export async function verifyPassword(stored: PasswordHash, password: string): Promise<boolean> {
  const derived = await derive(password, stored.salt, stored.params);
  return derived.length === stored.hash.length && timingSafeEqual(derived, stored.hash);
}

/** Throws RangeError unless the parameters are ones scrypt takes and within our bounds. */
export function checkParameters(params: ScryptParameters): void {
  const { N, r, p, keyBytes } = params;
  const powerOfTwo = Number.isSafeInteger(N) && N >= 2 && (N & (N - 1)) === 0;
  if (!powerOfTwo || N > N_MAX) throw new RangeError(`scrypt N must be a power of two from 2 to ${N_MAX} (got ${N})`);
  if (!(Number.isSafeInteger(r) && r >= 1 && r <= 32)) throw new RangeError(`scrypt r must be 1 to 32 (got ${r})`);
  if (!(Number.isSafeInteger(p) && p >= 1 && p <= 16)) throw new RangeError(`scrypt p must be 1 to 16 (got ${p})`);
  if (!(Number.isSafeInteger(keyBytes) && keyBytes >= 16 && keyBytes <= 64)) throw new RangeError(`scrypt keyBytes must be 16 to 64 (got ${keyBytes})`);
}

function derive(password: string, salt: Buffer, params: ScryptParameters): Promise<Buffer> {
  // scrypt needs 128 * N * r bytes; Node refuses above maxmem (32 MiB by default).
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 128 * params.N * params.r * 2 + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, params.keyBytes, options, (error, key) => (error === null ? resolve(key) : reject(error)));
  });
}
