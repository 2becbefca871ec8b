/**
 * age X25519 recipients as they appear in repository bytes (format.md 3.1): `age1` followed by 58 lower-case
 * Bech32 characters, decoding to 32 bytes. Anything else (upper or mixed case included) is refused.
 */

import { bech32Decode } from "./bech32.js";

const RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;

/** Reports whether `s` is a recipient as the repository must write it. */
export function isRecipient(s: unknown): s is string {
  if (typeof s !== "string" || !RECIPIENT.test(s)) return false;
  const d = bech32Decode(s);
  return d !== null && d.hrp === "age" && d.data.length === 32;
}
