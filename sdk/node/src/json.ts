/**
 * Strict access to the JSON files of the vault (the root body and the index shards). Every helper throws
 * IntegrityError naming `what` (the file and the place in it) when a field is absent or mistyped.
 */

import { IntegrityError } from "./errors.js";

const SHA256 = /^[0-9a-f]{64}$/;

/** Reports whether `s` is a SHA-256 as written in the format (64 lowercase hex characters). */
export function isSha256(s: unknown): s is string {
  return typeof s === "string" && SHA256.test(s);
}

/** Decodes UTF-8 (fatal) and parses JSON; throws IntegrityError naming `what` on failure. */
export function parseJsonBytes(bytes: Uint8Array, what: string): unknown {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new IntegrityError(`${what}: not valid UTF-8`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new IntegrityError(`${what}: not valid JSON`);
  }
}

/** Returns `v` as a plain JSON object or throws IntegrityError naming `what`. */
export function asObject(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new IntegrityError(`${what}: not a JSON object`);
  return v as Record<string, unknown>;
}

/** Reads a required field of a JSON object, throwing IntegrityError when it is absent. */
export function field(obj: Record<string, unknown>, name: string, what: string): unknown {
  if (!Object.hasOwn(obj, name)) throw new IntegrityError(`${what}: missing field ${name}`);
  return obj[name];
}

/** Reads a required string field. */
export function stringField(obj: Record<string, unknown>, name: string, what: string): string {
  const v = field(obj, name, what);
  if (typeof v !== "string") throw new IntegrityError(`${what}: field ${name} is not a string`);
  return v;
}

/** Reads a required non-negative integer field. */
export function intField(obj: Record<string, unknown>, name: string, what: string): number {
  const v = field(obj, name, what);
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new IntegrityError(`${what}: field ${name} is not a non-negative integer`);
  }
  return v;
}

/** Reads a required SHA-256 field. */
export function shaField(obj: Record<string, unknown>, name: string, what: string): string {
  const v = stringField(obj, name, what);
  if (!SHA256.test(v)) throw new IntegrityError(`${what}: field ${name} is not a SHA-256`);
  return v;
}

/** Reads an array of strings. */
export function stringArray(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
    throw new IntegrityError(`${what}: not an array of strings`);
  }
  return v as string[];
}

/** Reads an optional array of strings: absent or null is empty. */
export function optionalStringArray(obj: Record<string, unknown>, name: string, what: string): string[] {
  if (!Object.hasOwn(obj, name) || obj[name] === null) return [];
  return stringArray(obj[name], `${what} ${name}`);
}

/** A vouch: the SHA-256 and exact size in bytes of a file (format.md 1: every vouch carries both). */
export interface Vouch {
  readonly sha256: string;
  readonly size: number;
}

/** Reads `{sha256, size}` at `obj[name]`, or from `obj` itself with the given field names. */
export function vouchFields(obj: Record<string, unknown>, shaName: string, sizeName: string, what: string): Vouch {
  return { sha256: shaField(obj, shaName, what), size: intField(obj, sizeName, what) };
}
