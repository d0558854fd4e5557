/**
 * `quorumlog status` against a node that refuses this client's credentials says "refused",
 * not "unreachable": the node was reached, and may well have a leader.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { runCommand } from '../../src/cli/run-command.js';
import { startClientServer, TlsCertificates, type ClientServer } from '../../src/transport/index.js';
import { FakeClientService } from '../client/fake-client-service.js';
import { ephemeralPort } from '../harness/index.js';
import { loopbackCertificates, memberMaterial } from '../harness/tls-certificates.js';

const servers: ClientServer[] = [];
const dirs: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.allSettled(servers.splice(0).map((s) => s.close()));
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('quorumlog status and a node that refuses the client', () => {
  it('shows the node as refused, with the reason, and says the leader is unknown rather than absent', async () => {
    const set = await loopbackCertificates(['n1']);
    const address = `127.0.0.1:${await ephemeralPort()}`;
    // Requires a client certificate (or a password): this client presents neither.
    servers.push(await startClientServer({ listenAddress: address, service: new FakeClientService(), messageBytesMax: 1024 * 1024, tls: new TlsCertificates(memberMaterial(set, 'n1')), auth: { onRefused: () => undefined } }));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quorumlog-status-refused-'));
    dirs.push(dir);
    const ca = path.join(dir, 'ca.pem');
    fs.writeFileSync(ca, set.ca.cert);
    let stdout = '';
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return true;
    }) as typeof process.stdout.write);
    const code = await runCommand(['status', '--brokers', address, '--tls-ca', ca]);
    vi.restoreAllMocks();
    expect(code).toBe(1);
    const row = stdout.split('\n').find((line) => line.includes(address)) ?? '';
    expect(row, stdout).toMatch(/\brefused\b/);
    expect(row, stdout).not.toContain('unreachable');
    expect(row, stdout).toContain('authentication required');
    expect(stdout).toContain('leader unknown: 1 of 1 members refused this client');
    expect(stdout).not.toContain('no leader');
  });
});
