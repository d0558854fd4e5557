import { describe, expect, it } from 'vitest';

import { ClientCodec } from '../../src/transport/index.js';

const empty = new Uint8Array(0);

describe('client codec', () => {
  it('decodes empty bytes fields as empty Uint8Arrays, at the top level and nested', () => {
    const codec = new ClientCodec();
    const fetched = codec.fetchResponse.deserialize(
      codec.fetchResponse.serialize({ messages: [{ offset: 1, key: empty, headers: [{ name: 'h', value: empty }], payload: empty, timestampMs: 1 }], nextOffset: 2, endOffset: 2 }),
    );
    const m = fetched.messages[0];
    for (const bytes of [m?.key, m?.payload, m?.headers[0]?.value]) {
      expect(bytes).toBeInstanceOf(Uint8Array);
      expect(bytes?.length).toBe(0);
    }
    const consumed = codec.groups.consumeResponse.deserialize(
      codec.groups.consumeResponse.serialize({ deliveries: [{ offset: 1, delivery: 1, deadlineMs: 1, message: { key: empty, headers: [], payload: empty, timestampMs: 1 } }] }),
    );
    const nested = consumed.deliveries[0]?.message;
    expect(nested?.key).toBeInstanceOf(Uint8Array);
    expect(nested?.payload).toBeInstanceOf(Uint8Array);
    // Usable where bytes are expected (the CLI's --json path decodes keys as text).
    expect(new TextDecoder().decode(nested?.key)).toBe('');
  });
});
