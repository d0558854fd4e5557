/** client.proto's BrokerMessage and MessageHeader on the wire, shared by the client and group codecs. */
export interface MessageHeaderMessage {
  readonly name: string;
  readonly value: Uint8Array;
}
export interface BrokerMessage {
  readonly key: Uint8Array;
  readonly headers: readonly MessageHeaderMessage[];
  readonly payload: Uint8Array;
  readonly timestampMs: number;
}
