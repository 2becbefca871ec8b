/**
 * The in-memory age decryption (typage header + node:crypto unwrap and payload) against typage's own encryption
 * and decryption, at chunk boundaries, and with tampered files.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";
import { decryptAgeFile, splitAgeFile } from "../src/agefile.js";
import { identityBytes } from "../src/keys.js";
import { NodeX25519Identity } from "../src/x25519.js";

async function setup(): Promise<{ enc: Encrypter; ours: Decrypter; theirs: Decrypter; other: Decrypter }> {
  const id = await generateX25519Identity();
  const otherId = await generateX25519Identity();
  const enc = new Encrypter();
  enc.addRecipient(await identityToRecipient(otherId));
  enc.addRecipient(await identityToRecipient(id));
  const ours = new Decrypter();
  ours.addIdentity(new NodeX25519Identity(identityBytes(id)!));
  const theirs = new Decrypter();
  theirs.addIdentity(id);
  const stranger = new Decrypter();
  stranger.addIdentity(new NodeX25519Identity(identityBytes(await generateX25519Identity())!));
  return { enc, ours, theirs, other: stranger };
}

test("sizes around chunk boundaries decrypt exactly as typage does", async () => {
  const { enc, ours, theirs } = await setup();
  const K = 64 * 1024;
  for (const n of [0, 1, 15, 16, 17, K - 1, K, K + 1, 2 * K, 2 * K + 7, 1024 * 1024]) {
    const plain = randomBytes(n);
    const file = await enc.encrypt(plain);
    const got = await decryptAgeFile(ours, file);
    assert.deepEqual(Buffer.from(got), plain, `size ${n}`);
    assert.deepEqual(Buffer.from(await theirs.decrypt(file, "uint8array")), plain);
  }
});

test("a key that is not a recipient is refused", async () => {
  const { enc, other } = await setup();
  await assert.rejects(decryptAgeFile(other, await enc.encrypt("x")), /no identity matched/);
});

test("tampered files are refused", async (t) => {
  const { enc, ours } = await setup();
  const K = 64 * 1024;
  const file = Buffer.from(await enc.encrypt(randomBytes(K + 100)));
  const { header } = splitAgeFile(file);
  const h = header.length;
  const flip = (b: Buffer, i: number): Buffer => {
    const c = Buffer.from(b);
    c.writeUInt8(c.readUInt8(i) ^ 1, i);
    return c;
  };
  const mutations: Array<[string, (b: Buffer) => Buffer]> = [
    ["flipped payload byte", (b) => flip(b, h + 40)],
    ["flipped last byte", (b) => flip(b, b.length - 1)],
    ["flipped nonce byte", (b) => flip(b, h + 1)],
    ["flipped header MAC", (b) => flip(b, h - 3)],
    ["truncated to the first chunk", (b) => b.subarray(0, h + 16 + K + 16)],
    ["truncated mid chunk", (b) => b.subarray(0, b.length - 50)],
    ["trailing byte", (b) => Buffer.concat([b, Buffer.from([0])])],
    ["empty extra chunk", (b) => Buffer.concat([b, Buffer.alloc(16)])],
    ["no payload", (b) => b.subarray(0, h)],
    ["no MAC line", (b) => Buffer.from(b.toString("latin1").replace("\n--- ", "\n-x- "), "latin1")],
  ];
  for (const [name, m] of mutations) {
    await t.test(name, async () => {
      await assert.rejects(decryptAgeFile(ours, m(file)));
    });
  }
  await t.test("untampered", async () => {
    assert.equal((await decryptAgeFile(ours, file)).length, K + 100);
  });
});

test("many recipients: the identity's stanza is found wherever it is, and again on re-reads", async () => {
  const ids = await Promise.all(Array.from({ length: 6 }, () => generateX25519Identity()));
  const enc = new Encrypter();
  for (const id of ids) enc.addRecipient(await identityToRecipient(id));
  const files = await Promise.all(["a", "b", "c"].map((v) => enc.encrypt(v)));
  for (const id of ids) {
    const d = new Decrypter();
    d.addIdentity(new NodeX25519Identity(identityBytes(id)!));
    for (let round = 0; round < 2; round++) {
      for (const [i, f] of files.entries()) {
        assert.equal(Buffer.from(await decryptAgeFile(d, f)).toString(), ["a", "b", "c"][i]);
      }
    }
  }
});
