import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, sign } from "node:crypto";
import { IntegrityError } from "../src/errors.js";
import { ROOT_DOMAIN, isVerifyKey, splitSigned, verifySigned } from "../src/signed.js";

function keypair(): { priv: ReturnType<typeof generateKeyPairSync>["privateKey"]; verifyKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const x = publicKey.export({ format: "jwk" }).x!;
  return { priv: privateKey, verifyKey: "ed25519:" + Buffer.from(x, "base64url").toString("base64") };
}

function signed(body: string, priv: ReturnType<typeof keypair>["priv"], domain = ROOT_DOMAIN): Buffer {
  const sig = sign(null, Buffer.concat([Buffer.from(domain), Buffer.from(body)]), priv);
  return Buffer.concat([Buffer.from(body), Buffer.from(`signature: ed25519 ${sig.toString("base64")}\n`)]);
}

test("split: body ends at the second-to-last newline", () => {
  const { priv } = keypair();
  const f = signed('{"a":1}\n', priv);
  const { body, signature } = splitSigned(f, "f");
  assert.equal(Buffer.from(body).toString(), '{"a":1}\n');
  assert.equal(signature.length, 64);
});

test("split refuses malformed layouts", async (t) => {
  const { priv } = keypair();
  const good = signed("{}\n", priv).toString();
  const sigline = good.slice(3);
  const cases: Array<[string, string]> = [
    ["empty", ""],
    ["no final newline", good.slice(0, -1)],
    ["signature line only", sigline],
    ["extra blank line after signature", good + "\n"],
    ["wrong algorithm", good.replace("ed25519 ", "ed448 ")],
    ["missing padding", good.replace("==\n", "\n")],
    ["short signature", "{}\nsignature: ed25519 AAAA\n"],
    ["trailing space", good.replace("==\n", "== \n")],
    ["CRLF", good.replace("==\n", "==\r\n")],
  ];
  for (const [name, text] of cases) {
    await t.test(name, () => assert.throws(() => splitSigned(Buffer.from(text), "f"), IntegrityError));
  }
});

test("verify: exact bytes with the domain prefix", () => {
  const { priv, verifyKey } = keypair();
  const body = '{"type":"agent-vault-root"}\n';
  assert.equal(Buffer.from(verifySigned(signed(body, priv), ROOT_DOMAIN, verifyKey, "root")).toString(), body);
});

test("verify refuses tampering, another key, another domain", () => {
  const { priv, verifyKey } = keypair();
  const other = keypair();
  const f = signed('{"version":1}\n', priv);
  const tampered = Buffer.from(f.toString().replace('"version":1', '"version":2'));
  assert.throws(() => verifySigned(tampered, ROOT_DOMAIN, verifyKey, "root"), /bad signature/);
  // Re-serialised (whitespace changed) bodies do not verify either.
  const spaced = Buffer.from(f.toString().replace('{"version":1}', '{"version": 1}'));
  assert.throws(() => verifySigned(spaced, ROOT_DOMAIN, verifyKey, "root"), IntegrityError);
  assert.throws(() => verifySigned(f, ROOT_DOMAIN, other.verifyKey, "root"), IntegrityError);
  assert.throws(() => verifySigned(signed('{"version":1}\n', priv, "other\n"), ROOT_DOMAIN, verifyKey, "root"), IntegrityError);
});

test("verify keys", () => {
  const { verifyKey } = keypair();
  assert.ok(isVerifyKey(verifyKey));
  assert.ok(!isVerifyKey(verifyKey.replace("ed25519:", "ed25519 ")));
  assert.ok(!isVerifyKey(verifyKey.slice(0, -1)));
  assert.ok(!isVerifyKey("ed25519:" + Buffer.alloc(31).toString("base64")));
  assert.throws(() => verifySigned(Buffer.from("{}\n"), ROOT_DOMAIN, "ed25519:xx", "root"), IntegrityError);
});
