/**
 * The C2SP CCTV age test vectors (test/testdata/cctv-age, copied by scripts/cctv-age-vectors.sh; see its
 * README.md) against the SDK's own age code, as typage runs them: every X25519 and post-quantum vector that is not
 * armored, decrypted as the SDK decrypts a secret (decryptAgeFile: the file split, the stanza kinds and the STREAM
 * payload of agefile.ts; X25519 file keys unwrapped by x25519.ts, post-quantum ones by typage). A `success` vector
 * must give the plaintext whose SHA-256 is its `payload`; every other vector (header, no match, HMAC, payload
 * failure) must be refused, releasing nothing.
 *
 * One deliberate difference: a file that mixes mlkem768x25519 stanzas with stanzas of another type (the vectors
 * hybrid_and_x25519 and hybrid_grease, valid age files) is refused by decryptAgeFile with MixedStanzasError
 * (docs/format.md 5.1: such a file is only as strong as its weakest stanza, and no writer of the format makes one).
 * The age layers below that check (splitAgeFile, typage's decryptHeader, decryptPayload) are held to the vector's
 * expectation for every file, those two included.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { inflateSync } from "node:zlib";
import { Decrypter } from "age-encryption";
import { decryptAgeFile, decryptPayload, MixedStanzasError, splitAgeFile } from "../src/agefile.js";
import { identityBytes, isHybridIdentity } from "../src/keys.js";
import { NodeX25519Identity } from "../src/x25519.js";

// dist/test/cctv.test.js → the vectors stay in the source tree, three levels up then test/testdata.
const DIR = fileURLToPath(new URL("../../test/testdata/cctv-age/", import.meta.url));
const EXPECTS = new Set(["success", "header failure", "no match", "HMAC failure", "payload failure"]);

interface Vector {
  meta: Map<string, string[]>;
  body: Uint8Array;
}

function parse(raw: Buffer): Vector {
  const sep = raw.indexOf("\n\n");
  assert.ok(sep > 0, "no blank line after the vector's header");
  const meta = new Map<string, string[]>();
  for (const line of raw.subarray(0, sep).toString("utf8").split("\n")) {
    const i = line.indexOf(": ");
    const k = line.slice(0, i);
    meta.set(k, [...(meta.get(k) ?? []), line.slice(i + 2)]);
  }
  let body: Uint8Array = raw.subarray(sep + 2);
  if (meta.get("compressed")?.[0] === "zlib") body = inflateSync(body);
  return { meta, body };
}

/** The Decrypter the SDK builds for a key (vault.ts decrypterFor), with every identity of the vector. */
function decrypter(identities: string[]): Decrypter {
  const d = new Decrypter();
  for (const id of identities) {
    if (isHybridIdentity(id)) {
      d.addIdentity(id);
      continue;
    }
    const raw = identityBytes(id);
    assert.ok(raw !== null, `not an X25519 identity: ${id.slice(0, 20)}...`);
    d.addIdentity(new NodeX25519Identity(raw));
  }
  return d;
}

const names = readdirSync(DIR).filter((n) => n !== "README.md").sort();

test("the vectors are there", () => {
  assert.ok(names.length >= 80, `only ${names.length} vectors in ${DIR}`);
});

for (const name of names) {
  test(`cctv ${name}`, async () => {
    const { meta, body } = parse(readFileSync(DIR + name));
    const expect = meta.get("expect")?.[0] ?? "";
    assert.ok(EXPECTS.has(expect), `expect ${expect}: not a vector this SDK claims to handle`);
    assert.ok(!meta.has("armored"), "an armored vector");
    const identities = meta.get("identity") ?? [];
    const check = (what: string, plain: Uint8Array | null, err: unknown): void => {
      if (expect === "success") {
        assert.equal(err, null, `${what} refused a valid file: ${String(err)}`);
        assert.equal(createHash("sha256").update(plain!).digest("hex"), meta.get("payload")?.[0], what);
      } else {
        assert.equal(plain, null, `${what} accepted a file that must fail with ${expect}`);
        assert.ok(err instanceof Error, what);
      }
    };
    // The age layers: the file split, typage's header (parse, unwrap, MAC) and the STREAM payload.
    {
      let plain: Uint8Array | null = null;
      let err: unknown = null;
      try {
        const { header, payload } = splitAgeFile(body);
        const fileKey = await decrypter(identities).decryptHeader(header);
        plain = decryptPayload(fileKey, payload);
      } catch (e) {
        err = e;
      }
      check("the age layers", plain, err);
    }
    // decryptAgeFile, as the SDK reads a secret.
    let plain: Uint8Array | null = null;
    let err: unknown = null;
    try {
      plain = await decryptAgeFile(decrypter(identities), body);
    } catch (e) {
      err = e;
    }
    if (mixesKinds(body)) {
      assert.equal(plain, null, "a file mixing post-quantum and other stanzas was decrypted");
      assert.ok(err instanceof MixedStanzasError, `want MixedStanzasError, got ${String(err)}`);
      return;
    }
    check("decryptAgeFile", plain, err);
  });
}

/** Whether the file's header (its stanza lines, read independently of agefile.ts) mixes mlkem768x25519 and others. */
function mixesKinds(file: Uint8Array): boolean {
  const text = Buffer.from(file).toString("latin1");
  const end = text.indexOf("\n--- ");
  const types = new Set(
    (end < 0 ? text : text.slice(0, end))
      .split("\n")
      .filter((l) => l.startsWith("-> "))
      .map((l) => l.split(" ")[1] === "mlkem768x25519"),
  );
  return types.size === 2;
}
