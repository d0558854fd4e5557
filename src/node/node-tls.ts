import { X509Certificate } from 'node:crypto';

import { LogEvent, type Log } from '../log/index.js';
import { memberIdsOf, readTlsMaterial, TlsCertificates, TlsMaterialError, type TlsFiles, type TlsMaterial } from '../transport/index.js';
import { ConfigError } from './config.js';

/**
 * A node's TLS certificates, read from its files at start and re-read by reload() (SIGHUP).
 * The listening ports and the peer links see each reload on their next connection.
 */
export class NodeTls {
  readonly certificates: TlsCertificates;
  readonly #files: TlsFiles;
  readonly #self: string;
  readonly #log: Log;

  /** Reads the files; a file that is missing or unusable is a ConfigError (the node does not start). */
  constructor(options: { readonly files: TlsFiles; readonly self: string; readonly log: Log }) {
    this.#files = options.files;
    this.#self = options.self;
    this.#log = options.log;
    try {
      this.certificates = new TlsCertificates(readTlsMaterial(options.files));
    } catch (error) {
      if (error instanceof TlsMaterialError) throw new ConfigError(error.message, { cause: error });
      throw error;
    }
    this.#describe('loaded');
  }

  /**
   * Reads the files again and, if they make a usable set, serves and dials with it from the
   * next connection on; otherwise logs why and keeps the set it had. True if replaced.
   */
  reload(): boolean {
    let material: TlsMaterial;
    try {
      material = readTlsMaterial(this.#files);
      this.certificates.update(material);
    } catch (error) {
      if (!(error instanceof TlsMaterialError)) throw error;
      this.#log.error(`TLS reload failed, keeping the certificates in use: ${error.message}`, { event: LogEvent.tlsReloadFailed, reason: error.message });
      return false;
    }
    this.#describe('reloaded');
    return true;
  }

  /** One line naming the certificate in use (never the key). */
  #describe(verb: 'loaded' | 'reloaded'): void {
    const certificate = new X509Certificate(this.certificates.material.cert);
    const members = memberIdsOf({ subjectaltname: certificate.subjectAltName ?? '' });
    const fields = { event: LogEvent.tlsLoaded, subject: certificate.subject, validTo: certificate.validTo, members: members.join(',') };
    this.#log.info(`TLS ${verb} from ${this.#files.certFile}: ${certificate.subject.replace(/\n/g, ', ')}, names ${members.length === 0 ? 'no member' : members.join(', ')}, valid ${certificate.validFrom} to ${certificate.validTo}`, fields);
    if (!members.includes(this.#self)) {
      this.#log.warn(`the TLS certificate in ${this.#files.certFile} does not name this node (${this.#self}): its peers will refuse it`, { event: LogEvent.configWarning });
    }
  }
}
