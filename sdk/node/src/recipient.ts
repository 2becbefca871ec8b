/**
 * age X25519 recipients as they appear in repository bytes (format.md 3.1): `age1` followed by 58 lower-case
 * Bech32 characters, decoding to 32 bytes. Anything else (upper or mixed case included) is refused.
 */

import { bech32Decode } from "./bech32.js";

const RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
const PLUGIN_RECIPIENT = /^age1([a-z0-9+\-._]+)1[02-9ac-hj-np-z]{6,}$/;
const MAX_PLUGIN_RECIPIENT = 1024;

/**
 * Reports whether `s` is an age plugin recipient as the repository must write it (format.md 3.7): lower-case
 * Bech32 whose human-readable part is `age1` and a plugin name other than `pq`, at most 1024 characters.
 * Readers only compare recipients; they never encrypt to one.
 */
export function isPluginRecipient(s: unknown): s is string {
  if (typeof s !== "string" || s.length > MAX_PLUGIN_RECIPIENT) return false;
  const m = PLUGIN_RECIPIENT.exec(s);
  if (m === null || m[1] === "pq") return false;
  const d = bech32Decode(s);
  return d !== null && d.hrp === "age1" + m[1];
}

const HYBRID_RECIPIENT = /^age1pq1[02-9ac-hj-np-z]{1952}$/;

/**
 * Reports whether `s` is a post-quantum (ML-KEM-768 + X25519) recipient as the repository must write it (format.md
 * 3.1): `age1pq1` and 1952 lower-case Bech32 characters that decode to the 1216 bytes of a hybrid public key.
 */
export function isHybridRecipient(s: unknown): s is string {
  if (typeof s !== "string" || !HYBRID_RECIPIENT.test(s)) return false;
  const d = bech32Decode(s);
  return d !== null && d.hrp === "age1pq" && d.data.length === 1216;
}

/** The kind of a recipient: "hybrid" (post-quantum, `age1pq1…`) or "classic" (X25519 or a plugin's). */
export function recipientKind(s: string): "hybrid" | "classic" {
  return s.startsWith("age1pq1") ? "hybrid" : "classic";
}

/** Reports whether `s` is a recipient as the repository must write it: X25519, post-quantum, or a plugin's. */
export function isRecipient(s: unknown): s is string {
  if (isPluginRecipient(s) || isHybridRecipient(s)) return true;
  if (typeof s !== "string" || !RECIPIENT.test(s)) return false;
  const d = bech32Decode(s);
  return d !== null && d.hrp === "age" && d.data.length === 32;
}
