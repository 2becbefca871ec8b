/**
 * Decryption of a whole age v1 file held in memory.
 *
 * typage ({@link Decrypter.decryptHeader}) parses the header, unwraps the file key with the reader's identity and
 * checks the header MAC. The payload (age's STREAM construction: a 16-byte nonce, then ChaCha20-Poly1305 chunks of
 * 64 KiB with an 11-byte big-endian counter and a last-chunk flag as nonce, key = HKDF-SHA256(file key, nonce,
 * "payload")) is decrypted here with node:crypto: typage's payload path goes through web streams and costs more
 * than everything else in a `get` together.
 */

import { createDecipheriv, hkdfSync } from "node:crypto";
import type { Decrypter } from "age-encryption";

const CHUNK = 64 * 1024;
const TAG = 16;
const MAC_LINE = Buffer.from("\n--- ", "latin1");

/** Errors of this module; the caller maps any failure to "cannot decrypt". */
export class AgeFormatError extends Error {}

/**
 * The file's header holds an mlkem768x25519 (post-quantum) stanza beside a stanza of another type: such a file is
 * only as strong as its weakest stanza, and no writer of the format makes one (format.md 5.1).
 */
export class MixedStanzasError extends Error {}

/** Throws {@link MixedStanzasError} when `header` mixes mlkem768x25519 stanzas with others. */
export function checkStanzaKinds(header: Uint8Array): void {
  let hybrid = false;
  let other = false;
  for (const line of Buffer.from(header.buffer, header.byteOffset, header.byteLength).toString("latin1").split("\n")) {
    if (!line.startsWith("-> ")) continue;
    if (line.split(" ")[1] === "mlkem768x25519") hybrid = true;
    else other = true;
  }
  if (hybrid && other) throw new MixedStanzasError("the file mixes post-quantum (mlkem768x25519) and other recipient stanzas");
}

/** The payload decrypts to more than the limit given to {@link decryptPayload}; decryption stopped there. */
export class ValueTooLargeError extends Error {}

/** Splits an age file into its header (through the MAC line's newline) and its payload. */
export function splitAgeFile(file: Uint8Array): { header: Uint8Array; payload: Uint8Array } {
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  const mac = buf.indexOf(MAC_LINE);
  if (mac < 0) throw new AgeFormatError("no header MAC line");
  const eol = buf.indexOf(0x0a, mac + 1);
  if (eol < 0) throw new AgeFormatError("unterminated header MAC line");
  return { header: file.subarray(0, eol + 1), payload: file.subarray(eol + 1) };
}

/**
 * Decrypts an age STREAM payload (nonce and chunks) with the file key. Throws {@link ValueTooLargeError} as soon
 * as the plaintext exceeds `maxBytes` (so at most one chunk beyond the limit is ever decrypted).
 */
export function decryptPayload(fileKey: Uint8Array, payload: Uint8Array, maxBytes = Number.POSITIVE_INFINITY): Uint8Array {
  if (payload.length < 16 + TAG) throw new AgeFormatError("payload too short");
  const streamKey = Buffer.from(hkdfSync("sha256", fileKey, payload.subarray(0, 16), "payload", 32));
  const ct = payload.subarray(16);
  const parts: Buffer[] = [];
  const iv = Buffer.alloc(12);
  let total = 0;
  try {
    for (let off = 0, counter = 0; off < ct.length; counter++) {
      const remaining = ct.length - off;
      const last = remaining <= CHUNK + TAG;
      const len = last ? remaining : CHUNK + TAG;
      if (len < TAG) throw new AgeFormatError("truncated chunk");
      iv.fill(0);
      iv.writeUIntBE(counter, 5, 6);
      iv[11] = last ? 1 : 0;
      const chunk = ct.subarray(off, off + len);
      const d = createDecipheriv("chacha20-poly1305", streamKey, iv, { authTagLength: TAG });
      d.setAuthTag(chunk.subarray(len - TAG));
      const plain = Buffer.concat([d.update(chunk.subarray(0, len - TAG)), d.final()]);
      if (last && plain.length === 0 && counter > 0) throw new AgeFormatError("empty last chunk");
      parts.push(plain);
      total += plain.length;
      if (total > maxBytes) throw new ValueTooLargeError(`the value is larger than ${maxBytes} bytes`);
      off += len;
    }
  } catch (err) {
    for (const p of parts) p.fill(0);
    throw err;
  } finally {
    streamKey.fill(0);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
    p.fill(0);
  }
  return out;
}

/**
 * Decrypts the age file `file` with the identities of `decrypter`. Rejects when no identity opens the header, the
 * header MAC is wrong, or the payload does not authenticate, and with {@link ValueTooLargeError} when the value
 * exceeds `maxBytes` (checked as the chunks are decrypted).
 */
export async function decryptAgeFile(decrypter: Decrypter, file: Uint8Array, maxBytes = Number.POSITIVE_INFINITY): Promise<Uint8Array> {
  const { header, payload } = splitAgeFile(file);
  checkStanzaKinds(header);
  const fileKey = await decrypter.decryptHeader(header);
  try {
    return decryptPayload(fileKey, payload, maxBytes);
  } finally {
    fileKey.fill(0);
  }
}
