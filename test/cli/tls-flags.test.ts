import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { clientTlsFrom } from '../../src/cli/client-args.js';
import { tlsFilesFrom } from '../../src/cli/node-command.js';
import { UsageError } from '../../src/cli/usage-error.js';
import { loopbackCertificates, writeCertificates } from '../harness/tls-certificates.js';

let dir: string;
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-tls-flags-'));
  writeCertificates(dir, await loopbackCertificates(['n1']));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('TLS flags', () => {
  it('a node takes all three files or none', () => {
    expect(tlsFilesFrom(undefined, undefined, undefined)).toBeUndefined();
    expect(tlsFilesFrom('ca.pem', 'n1.pem', 'n1-key.pem')).toEqual({ caFile: 'ca.pem', certFile: 'n1.pem', keyFile: 'n1-key.pem' });
    expect(() => tlsFilesFrom('ca.pem', 'n1.pem', undefined)).toThrow(/--tls-key missing/);
  });

  it('a client reads the CA, and the certificate and key together', () => {
    expect(clientTlsFrom({})).toEqual({});
    const ca = clientTlsFrom({ 'tls-ca': path.join(dir, 'ca.pem') });
    expect(ca.tls?.ca.toString()).toContain('BEGIN CERTIFICATE');
    const pair = clientTlsFrom({ 'tls-ca': path.join(dir, 'ca.pem'), 'tls-cert': path.join(dir, 'client.pem'), 'tls-key': path.join(dir, 'client-key.pem') });
    expect(pair.tls?.key).toBeDefined();
  });

  it('refuses, naming the flag and file and never the content, a missing file, a file without PEM, a key of another certificate', () => {
    const missing = path.join(dir, 'missing.pem');
    expect(() => clientTlsFrom({ 'tls-ca': missing })).toThrow(new UsageError(`--tls-ca: cannot read ${missing} (ENOENT)`));
    const junk = path.join(dir, 'junk.pem');
    fs.writeFileSync(junk, 'not a certificate');
    expect(() => clientTlsFrom({ 'tls-ca': junk })).toThrow(/--tls-ca: .* holds no PEM block/);
    expect(() => clientTlsFrom({ 'tls-cert': path.join(dir, 'client.pem') })).toThrow(/need --tls-ca/);
    expect(() => clientTlsFrom({ 'tls-ca': path.join(dir, 'ca.pem'), 'tls-cert': path.join(dir, 'client.pem') })).toThrow(/go together/);
    let message = '';
    try {
      clientTlsFrom({ 'tls-ca': path.join(dir, 'ca.pem'), 'tls-cert': path.join(dir, 'client.pem'), 'tls-key': path.join(dir, 'n1-key.pem') });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/do not make a secure context/);
    const keyBody = fs.readFileSync(path.join(dir, 'n1-key.pem'), 'utf8').split('\n')[1] ?? '';
    expect(keyBody.length).toBeGreaterThan(20);
    expect(message).not.toContain(keyBody);
  });
});
