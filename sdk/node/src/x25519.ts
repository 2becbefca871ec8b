/**
 * An age X25519 identity for typage's {@link Decrypter} that unwraps file keys with node:crypto (native X25519,
 * HKDF-SHA256 and ChaCha20-Poly1305) instead of typage's WebCrypto or pure-JS path, which costs most of a `get`.
 * typage still parses the header, checks its MAC and decrypts the payload.
 *
 * The unwrap follows the age v1 specification (X25519 recipient stanza): `-> X25519 <base64 share>` with a
 * 32-byte body; wrap key = HKDF-SHA256(ikm = X25519(identity, share), salt = share || recipient,
 * info = "age-encryption.org/v1/X25519", 32); file key = ChaCha20-Poly1305-Open(wrap key, zero nonce, body).
 */

import { createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, type KeyObject } from "node:crypto";
import type { Identity, Stanza } from "age-encryption";

const PKCS8_X25519_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const LABEL = Buffer.from("age-encryption.org/v1/X25519", "utf8");
const NONCE = Buffer.alloc(12);
const B64_NOPAD = /^[A-Za-z0-9+/]{43}$/;

/** Decodes unpadded canonical base64 of 32 bytes, or returns null. */
function decodeShare(s: string): Buffer | null {
  if (!B64_NOPAD.test(s)) return null;
  const b = Buffer.from(s, "base64");
  return b.length === 32 && b.toString("base64").replace(/=+$/, "") === s ? b : null;
}

/** How many ephemeral shares that opened for this identity are remembered (see {@link NodeX25519Identity}). */
const REMEMBERED_SHARES = 4096;

/**
 * age X25519 identity backed by a node:crypto key object.
 *
 * A file has one stanza per recipient and nothing says which is whose, so each stanza costs an X25519 operation
 * until one opens. The identity remembers the ephemeral shares (public values from file headers) of stanzas that
 * opened for it and tries those first, so re-reading a secret costs one X25519 operation whatever the number of
 * recipients. Nothing secret is remembered.
 */
export class NodeX25519Identity implements Identity {
  readonly #key: KeyObject;
  readonly #recipient: Buffer;
  readonly #mine = new Set<string>();

  /** `raw` is the 32-byte X25519 secret scalar (the bytes of an `AGE-SECRET-KEY-1…` string). */
  constructor(raw: Uint8Array) {
    if (raw.length !== 32) throw new Error("X25519 identity must be 32 bytes");
    const der = Buffer.concat([PKCS8_X25519_PREFIX, raw]);
    this.#key = createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    der.fill(0);
    const x = createPublicKey(this.#key).export({ format: "jwk" }).x;
    if (typeof x !== "string") throw new Error("X25519 public key export failed");
    this.#recipient = Buffer.from(x, "base64url");
  }

  /**
   * Returns the file key from the first X25519 stanza this identity opens, or null when none is for it.
   * Throws on a malformed X25519 stanza, as the age specification requires.
   */
  unwrapFileKey(stanzas: Stanza[]): Uint8Array | null {
    const x = stanzas.filter((s) => s.args.length >= 1 && s.args[0] === "X25519");
    for (const s of x) {
      if (s.args.length !== 2) throw new Error("invalid X25519 stanza");
    }
    const ordered = [...x.filter((s) => this.#mine.has(s.args[1]!)), ...x.filter((s) => !this.#mine.has(s.args[1]!))];
    for (const s of ordered) {
      const fileKey = this.#unwrap(s);
      if (fileKey !== null) {
        const share = s.args[1]!;
        if (!this.#mine.has(share)) {
          if (this.#mine.size >= REMEMBERED_SHARES) this.#mine.clear();
          this.#mine.add(share);
        }
        return fileKey;
      }
    }
    return null;
  }

  /** Opens one X25519 stanza: the file key, null when the stanza is not for this identity; throws when malformed. */
  #unwrap(s: Stanza): Uint8Array | null {
    const share = decodeShare(s.args[1]!);
    if (share === null || s.body.length !== 32) throw new Error("invalid X25519 stanza");
    const peer = createPublicKey({ key: { kty: "OKP", crv: "X25519", x: share.toString("base64url") }, format: "jwk" });
    let shared: Buffer;
    try {
      shared = diffieHellman({ privateKey: this.#key, publicKey: peer });
    } catch {
      throw new Error("invalid X25519 stanza");
    }
    if (shared.every((b) => b === 0)) throw new Error("invalid X25519 stanza (low-order share)");
    const salt = Buffer.concat([share, this.#recipient]);
    const wrapKey = Buffer.from(hkdfSync("sha256", shared, salt, LABEL, 32));
    shared.fill(0);
    const body = Buffer.from(s.body);
    try {
      const d = createDecipheriv("chacha20-poly1305", wrapKey, NONCE, { authTagLength: 16 });
      d.setAuthTag(body.subarray(16));
      const fileKey = Buffer.concat([d.update(body.subarray(0, 16)), d.final()]);
      return new Uint8Array(fileKey);
    } catch {
      return null; // not for this identity
    } finally {
      wrapKey.fill(0);
    }
  }
}
