/** Hand-made frame pieces for tests that feed the codec bytes a correct encoder would never write. */
import { FRAME_PREFIX } from "../../src/ssh/codec.js";

/** A raw 17-byte frame prefix with any kind and lengths. */
export function prefix(kind: number, hlen: number, plen: number, from = 1, to = 0): Buffer {
  const b = Buffer.alloc(FRAME_PREFIX);
  b.writeUInt8(kind, 0);
  b.writeUInt32BE(from, 1);
  b.writeUInt32BE(to, 5);
  b.writeUInt32BE(hlen, 9);
  b.writeUInt32BE(plen, 13);
  return b;
}
