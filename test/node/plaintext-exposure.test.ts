import { describe, expect, it } from 'vitest';

import { nodeId } from '../../raft/index.js';
import { isLoopback, plaintextExposure } from '../../src/node/index.js';

const member = (peer: string, client: string) => ({ id: nodeId('n1'), peerAddress: peer, clientAddress: client });

describe('plaintext on a non-loopback address', () => {
  it('tells loopback addresses from the others', () => {
    for (const address of ['127.0.0.1:1', '127.1.2.3:7501', 'localhost:7501', '[::1]:7501']) expect(isLoopback(address), address).toBe(true);
    for (const address of ['0.0.0.0:7501', '10.0.0.5:7501', '[::]:7501', 'node1.example:7501', '128.0.0.1:7501']) expect(isLoopback(address), address).toBe(false);
  });

  it('is refused without TLS, naming the exposed addresses; allowed with TLS or --insecure', () => {
    const members = [member('0.0.0.0:7601', '127.0.0.1:7501')];
    expect(plaintextExposure({ id: nodeId('n1'), members })).toMatch(/^refusing to listen on 0\.0\.0\.0:7601 without TLS/);
    expect(plaintextExposure({ id: nodeId('n1'), members, insecure: true })).toBeNull();
    expect(plaintextExposure({ id: nodeId('n1'), members, tls: { caFile: 'ca.pem', certFile: 'n1.pem', keyFile: 'n1-key.pem' } })).toBeNull();
    expect(plaintextExposure({ id: nodeId('n1'), members: [member('127.0.0.1:7601', '127.0.0.1:7501')] })).toBeNull();
  });
});
