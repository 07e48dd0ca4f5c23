/** Fixed inputs of the PROTOCOL.md test vectors, and the bytes our implementation produces for them. */
import { Identity, InitiatorHandshake, RecordSender, RecordType, ResponderHandshake, nodeCrypto, type CipherId, type CryptoProvider } from '../src/index.js';

export const VECTOR_INPUTS = {
  initiatorSeed: new Uint8Array(32).fill(0x01),
  responderSeed: new Uint8Array(32).fill(0x02),
  initiatorEphemeral: new Uint8Array(32).fill(0x11),
  responderEphemeral: new Uint8Array(32).fill(0x22),
  data: new TextEncoder().encode('hello'),
};

export function produceVectors(cipher: CipherId, provider: CryptoProvider = nodeCrypto) {
  const I = Identity.fromSeed(VECTOR_INPUTS.initiatorSeed, provider);
  const R = Identity.fromSeed(VECTOR_INPUTS.responderSeed, provider);
  const ini = new InitiatorHandshake({ identity: I, provider, ciphers: [cipher], ephemeralPrivateKey: VECTOR_INPUTS.initiatorEphemeral });
  const resp = new ResponderHandshake({ identity: R, provider, ciphers: [cipher], ephemeralPrivateKey: VECTOR_INPUTS.responderEphemeral });
  const hello = ini.hello();
  const reply = resp.onHello(hello);
  const { auth, result: ri } = ini.onReply(reply);
  const rr = resp.onAuth(auth);
  const rs = new RecordSender(provider, cipher, rr.sendKey, rr.sendIv, 0);
  const ready = rs.seal(RecordType.ready, new Uint8Array(0));
  const is = new RecordSender(provider, cipher, ri.sendKey, ri.sendIv, 0);
  const data0 = is.seal(RecordType.data, VECTOR_INPUTS.data);
  const rekey1 = is.rekey(0);
  const data2 = is.seal(RecordType.data, VECTOR_INPUTS.data);
  return { I, R, hello, reply, auth, ri, rr, ready, data0, rekey1, data2 };
}
