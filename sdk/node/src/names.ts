/**
 * Name rules of format.md section 2.
 *
 * A segment matches `^[A-Za-z0-9._-]{1,64}$` and is neither `.` nor `..`. A secret path is 1 to 8 segments
 * joined by `/`, at most 256 bytes. Agent and group names are single segments.
 */

import { IntegrityError, usageError, type AgentVaultError } from "./errors.js";

const SEGMENT = /^[A-Za-z0-9._-]{1,64}$/;
/** Maximum number of segments in a secret path. */
export const MAX_DEPTH = 8;
/** Maximum length of a secret path in bytes (the alphabet is ASCII, so also in characters). */
export const MAX_PATH_BYTES = 256;

/** Where a name came from: typed by the caller (usage error) or found in repository bytes (integrity error). */
export type NameSource = "user" | "repo";

/** Reports whether `s` is a valid segment (agent name, group name, one part of a secret path). */
export function isValidSegment(s: unknown): s is string {
  return typeof s === "string" && SEGMENT.test(s) && s !== "." && s !== "..";
}

/** Returns why `s` is not a valid secret path, or null when it is valid. */
export function secretPathProblem(s: unknown): string | null {
  if (typeof s !== "string") return "not a string";
  if (s.length === 0) return "empty";
  if (s.length > MAX_PATH_BYTES) return `longer than ${MAX_PATH_BYTES} bytes`;
  if (s.startsWith("/")) return "leading /";
  if (s.endsWith("/")) return "trailing /";
  const segs = s.split("/");
  if (segs.length > MAX_DEPTH) return `more than ${MAX_DEPTH} segments`;
  for (const seg of segs) {
    if (seg.length === 0) return "empty segment";
    if (seg === "." || seg === "..") return `segment "${seg}"`;
    if (!SEGMENT.test(seg)) return "a segment is not 1-64 characters of [A-Za-z0-9._-]";
  }
  return null;
}

/** Reports whether `s` is a valid secret path. */
export function isValidSecretPath(s: unknown): s is string {
  return secretPathProblem(s) === null;
}

function fail(source: NameSource, message: string): AgentVaultError {
  return source === "user" ? usageError(message) : new IntegrityError(message);
}

/** Quotes a name for a message; the string is cut and escaped so that a hostile name cannot forge output. */
export function quoteName(s: unknown): string {
  const str = typeof s === "string" ? s : String(s);
  return JSON.stringify(str.length > 80 ? str.slice(0, 80) + "…" : str);
}

/**
 * Throws unless `s` is a valid secret path: a usage error for `source` "user", an integrity error for "repo".
 * `where` names the place the name was found, for the message.
 */
export function checkSecretPath(s: unknown, source: NameSource, where = "secret path"): string {
  const problem = secretPathProblem(s);
  if (problem !== null) throw fail(source, `invalid ${where} ${quoteName(s)}: ${problem}`);
  return s as string;
}

/** Throws unless `s` is a valid segment (agent or group name); kinds as in {@link checkSecretPath}. */
export function checkSegment(s: unknown, source: NameSource, where = "name"): string {
  if (!isValidSegment(s)) {
    throw fail(source, `invalid ${where} ${quoteName(s)}: must be 1-64 characters of [A-Za-z0-9._-], not "." or ".."`);
  }
  return s;
}

/** The default group of a secret path: its first segment. The path must be valid. */
export function firstSegment(path: string): string {
  const i = path.indexOf("/");
  return i < 0 ? path : path.slice(0, i);
}
