import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';

import type { experimental } from '@grpc/grpc-js';
import { TlsMaterialError } from './errors.js';

/** Where a node's or a client's TLS material lives: PEM files (--tls-ca, --tls-cert, --tls-key). */
export interface TlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

/** PEM bytes of a CA bundle, a certificate (chain) and its private key. */
export interface TlsMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Reads the three PEM files and checks that they make a usable secure context (the key
 * matches the certificate, every PEM parses). Throws TlsMaterialError naming the file and
 * the reason; the error never carries a file's content (keys stay out of logs and errors).
 */
export function readTlsMaterial(files: TlsFiles): TlsMaterial {
  const material = { ca: readPem(files.caFile, 'CA'), cert: readPem(files.certFile, 'certificate'), key: readPem(files.keyFile, 'key') };
  checkTlsMaterial(material, files);
  return material;
}

function readPem(file: string, what: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new TlsMaterialError(`cannot read the TLS ${what} file ${file} (${code})`);
  }
  if (!bytes.includes('-----BEGIN ')) throw new TlsMaterialError(`the TLS ${what} file ${file} holds no PEM block`);
  return bytes;
}

/** Throws TlsMaterialError unless ca, cert and key make a secure context. */
export function checkTlsMaterial(material: TlsMaterial, files?: TlsFiles): void {
  const where = files === undefined ? '' : ` (${files.certFile}, ${files.keyFile}, ${files.caFile})`;
  try {
    new X509Certificate(material.cert);
    new X509Certificate(material.ca);
  } catch {
    throw new TlsMaterialError(`a TLS certificate does not parse${where}`);
  }
  try {
    createSecureContext({ ca: material.ca, cert: material.cert, key: material.key });
  } catch (error) {
    // OpenSSL's reason ("key values mismatch", "bad decrypt") names no key bytes.
    const reason = error instanceof Error ? error.message.split('\n')[0] : 'unusable';
    throw new TlsMaterialError(`the TLS certificate and key do not make a secure context${where}: ${reason}`);
  }
}

/**
 * The certificates one node serves and dials with, replaceable while it runs (SIGHUP
 * rotation). grpc-js reads them through its CertificateProvider seam: a server built on it
 * calls setSecureContext on its listening socket at each update, and a channel builds each
 * new connection's context from the latest update. So after update(), every new connection,
 * in and out, uses the new certificate; connections already open keep theirs until they end.
 *
 * Listeners hear the current material on a later microtask, never inside addXListener:
 * grpc-js's server registers its own watcher only after adding its listeners.
 */
export class TlsCertificates implements experimental.CertificateProvider {
  #material: TlsMaterial;
  readonly #caListeners = new Set<experimental.CaCertificateUpdateListener>();
  readonly #identityListeners = new Set<experimental.IdentityCertificateUpdateListener>();

  constructor(material: TlsMaterial) {
    checkTlsMaterial(material);
    this.#material = material;
  }

  get material(): TlsMaterial {
    return this.#material;
  }

  /** Replaces the material (checked first: a bad set throws and the old one stays). */
  update(material: TlsMaterial): void {
    checkTlsMaterial(material);
    this.#material = material;
    for (const listener of this.#caListeners) listener({ caCertificate: material.ca });
    for (const listener of this.#identityListeners) listener({ certificate: material.cert, privateKey: material.key });
  }

  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.#caListeners.add(listener);
    queueMicrotask(() => {
      if (this.#caListeners.has(listener)) listener({ caCertificate: this.#material.ca });
    });
  }

  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.#caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.#identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.#identityListeners.has(listener)) listener({ certificate: this.#material.cert, privateKey: this.#material.key });
    });
  }

  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.#identityListeners.delete(listener);
  }
}
