/**
 * Signed files (format.md sections 3.4 and 4): the split of a signed file into body and signature, and Ed25519
 * verification over the exact body bytes with a domain-separation prefix.
 *
 * Callers verify with {@link verifySigned} and parse only the bytes it returns; nothing is ever re-serialised.
 */

import { createPublicKey, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { IntegrityError } from "./errors.js";

/** Domain-separation prefix of the signed root (format 2). */
export const ROOT_DOMAIN = "agent-vault/v2 root\n";
/** Domain-separation prefix of a format 1 root (format.md 11), used only to recognise one. */
export const ROOT_DOMAIN_V1 = "agent-vault/v1 root\n";

const SIGLINE = /^signature: ed25519 ([A-Za-z0-9+/]{86}==)\n$/;
const VERIFY_KEY = /^ed25519:([A-Za-z0-9+/]{43}=)$/;
const NL = 0x0a;

/** Decodes standard padded base64, or returns null unless `s` is the canonical encoding of what it decodes to. */
export function decodeBase64Strict(s: string): Buffer | null {
  const b = Buffer.from(s, "base64");
  return b.toString("base64") === s ? b : null;
}

/** Reports whether `s` is a verify key as written in the format: `ed25519:` and the padded base64 of 32 bytes. */
export function isVerifyKey(s: unknown): s is string {
  if (typeof s !== "string") return false;
  const m = VERIFY_KEY.exec(s);
  return m !== null && decodeBase64Strict(m[1]!)?.length === 32;
}

const keyCache = new Map<string, KeyObject>();

/** Returns the Ed25519 public key of a verify key string; throws IntegrityError when malformed. */
export function verifyKeyObject(verifyKey: string): KeyObject {
  const cached = keyCache.get(verifyKey);
  if (cached !== undefined) return cached;
  const m = VERIFY_KEY.exec(verifyKey);
  const raw = m === null ? null : decodeBase64Strict(m[1]!);
  if (raw === null || raw.length !== 32) throw new IntegrityError(`malformed verify key ${JSON.stringify(verifyKey.slice(0, 80))}`);
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
  if (keyCache.size > 64) keyCache.clear();
  keyCache.set(verifyKey, key);
  return key;
}

/**
 * Splits a signed file before anything is parsed: the file must end with `\n`; the signature line is the text
 * after the second-to-last `\n` and must read `signature: ed25519 <base64 of 64 bytes>\n`; the body is everything
 * before it (so it ends with `\n`). Throws IntegrityError naming `what` when the layout is wrong.
 */
export function splitSigned(bytes: Uint8Array, what: string): { body: Uint8Array; signature: Uint8Array } {
  const n = bytes.length;
  if (n === 0 || bytes[n - 1] !== NL) throw new IntegrityError(`${what}: does not end with a newline`);
  const cut = bytes.lastIndexOf(NL, n - 2);
  if (cut < 0) throw new IntegrityError(`${what}: no signature line after a body`);
  const sigline = Buffer.from(bytes.buffer, bytes.byteOffset + cut + 1, n - cut - 1).toString("latin1");
  const m = SIGLINE.exec(sigline);
  const sig = m === null ? null : decodeBase64Strict(m[1]!);
  if (sig === null || sig.length !== 64) throw new IntegrityError(`${what}: malformed signature line`);
  return { body: bytes.subarray(0, cut + 1), signature: sig };
}

/** Reports whether `signature` is a valid Ed25519 signature of `domain || body` by `verifyKey`. */
export function signatureValid(body: Uint8Array, signature: Uint8Array, domain: string, verifyKey: string): boolean {
  const msg = Buffer.concat([Buffer.from(domain, "utf8"), body]);
  return cryptoVerify(null, msg, verifyKeyObject(verifyKey), signature);
}

/**
 * Verifies the signed file `bytes` with `verifyKey` over `domain || body` and returns the body, which the caller
 * may then parse. Throws IntegrityError when the layout or the signature is bad.
 */
export function verifySigned(bytes: Uint8Array, domain: string, verifyKey: string, what: string): Uint8Array {
  const { body, signature } = splitSigned(bytes, what);
  if (!signatureValid(body, signature, domain, verifyKey)) {
    throw new IntegrityError(`${what}: bad signature (not signed by owner key ${verifyKey})`);
  }
  return body;
}
