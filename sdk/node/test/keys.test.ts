import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { generateX25519Identity } from "age-encryption";
import { VaultNotFoundError } from "../src/errors.js";
import { deriveOwnerVerifyKey, identityBytes, isMachineOwnerKey, parseKeyFile, readKeyFile, resolveKey } from "../src/keys.js";
import { isVerifyKey } from "../src/signed.js";
import { agentVaultHome } from "../src/home.js";
import { freshHome, tempDir, writePrivate } from "./fixture.js";

const VID = "3f0c9a1b2c3d4e5f60718293a4b5c6d7";
const VK = "ed25519:" + Buffer.alloc(32, 7).toString("base64");

async function pinnedFile(id: string): Promise<string> {
  return [
    "# agent-vault agent key",
    "# created: 2026-11-29T13:50:00Z",
    "# agent-vault-agent: ci",
    `# agent-vault-vault-id: ${VID}`,
    `# agent-vault-owner-verify-key: ${VK}`,
    id,
    "",
  ].join("\n");
}

test("identity bytes: valid Bech32 of 32 bytes only", async () => {
  const id = await generateX25519Identity();
  assert.equal(identityBytes(id)?.length, 32);
  assert.equal(identityBytes(id.toLowerCase()), null);
  const last = id.at(-1)!;
  assert.equal(identityBytes(id.slice(0, -1) + (last === "Q" ? "P" : "Q")), null, "bad checksum");
  assert.equal(identityBytes("AGE-SECRET-KEY-1"), null);
});

test("key file parsing", async (t) => {
  const id = await generateX25519Identity();
  const id2 = await generateX25519Identity();
  const pinned = await pinnedFile(id);

  await t.test("pinned file", () => {
    const k = parseKeyFile(pinned, "test");
    assert.equal(k.identity, id);
    assert.deepEqual(k.pin, { vaultId: VID, verifyKey: VK });
    assert.equal(k.agent, "ci");
  });
  await t.test("CRLF and surrounding white space", () => {
    const k = parseKeyFile(pinned.replaceAll("\n", "\r\n").replace(id, `  ${id}\t`), "test");
    assert.equal(k.identity, id);
    assert.deepEqual(k.pin, { vaultId: VID, verifyKey: VK });
  });
  await t.test("bare identity line", () => {
    const k = parseKeyFile(id, "test");
    assert.equal(k.identity, id);
    assert.equal(k.pin, null);
  });
  await t.test("pin order is free and repeated equal pins are accepted", () => {
    const text = `${id}\n# agent-vault-owner-verify-key: ${VK}\n# agent-vault-vault-id: ${VID}\n# agent-vault-vault-id: ${VID}  \n`;
    assert.deepEqual(parseKeyFile(text, "t").pin, { vaultId: VID, verifyKey: VK });
  });
  await t.test("comments that are not pins are ignored", () => {
    assert.equal(parseKeyFile(`# agent-vault-vault-id:  ${VID}\n  # indented comment\n${id}\n`, "t").pin, null);
  });
  await t.test("a malformed vault-id pin is kept (it cannot match a signed root later)", () => {
    assert.equal(parseKeyFile(pinned.replace(VID, "XYZ"), "t").pin?.vaultId, "XYZ");
  });

  const refused: Array<[string, string]> = [
    ["no identity", "# just a comment\n"],
    ["two identities", `${id}\n${id2}\n`],
    ["junk line", `${id}\nhello\n`],
    ["only vault-id", `# agent-vault-vault-id: ${VID}\n${id}\n`],
    ["only verify key", `# agent-vault-owner-verify-key: ${VK}\n${id}\n`],
    ["conflicting vault-id", `${pinned}# agent-vault-vault-id: ${"0".repeat(32)}\n`],
    ["conflicting agent", `${pinned}# agent-vault-agent: other\n`],
    ["bad verify key", pinned.replace(VK, "ed25519:abc")],
    ["bad checksum", `${id.slice(0, -1)}${id.endsWith("Q") ? "P" : "Q"}\n`],
  ];
  for (const [name, text] of refused) {
    await t.test(`refused: ${name}`, () => {
      assert.throws(() => parseKeyFile(text, "test"), (e: unknown) => {
        assert.ok(e instanceof VaultNotFoundError);
        assert.ok(!(e as Error).message.includes(id.slice(16)), "message must not quote the key");
        return true;
      });
    });
  }
});

test("key files by path: mode 0600 accepted, group/other bits refused", async () => {
  const dir = tempDir();
  const id = await generateX25519Identity();
  const file = writePrivate(path.join(dir, "ci.key"), await pinnedFile(id));
  assert.equal(readKeyFile(file).identity, id);
  for (const mode of [0o640, 0o604, 0o660, 0o644, 0o601]) {
    fs.chmodSync(file, mode);
    assert.throws(() => readKeyFile(file), (e: unknown) => e instanceof VaultNotFoundError && /chmod 600/.test((e as Error).message));
  }
  fs.chmodSync(file, 0o400);
  assert.equal(readKeyFile(file).identity, id);
  assert.throws(() => readKeyFile(path.join(dir, "missing.key")), VaultNotFoundError);
  assert.throws(() => readKeyFile(dir), VaultNotFoundError);
});

test("key resolution order and AGENT_VAULT_KEY forms", async (t) => {
  const home = freshHome();
  const dir = tempDir();
  const ownerId = await generateX25519Identity();
  const agentId = await generateX25519Identity();
  const explicitId = await generateX25519Identity();
  const agentContent = await pinnedFile(agentId);
  const agentPath = writePrivate(path.join(dir, "agent.key"), agentContent);
  const explicitPath = writePrivate(path.join(dir, "explicit.key"), `${explicitId}\n`);

  await t.test("no key at all", () => {
    assert.throws(() => resolveKey({ env: {}, home }), VaultNotFoundError);
  });
  writePrivate(path.join(home, "owner.key"), `# owner\n${ownerId}\n`);
  await t.test("<home>/owner.key last", () => {
    const r = resolveKey({ env: {}, home });
    assert.equal(r.key.identity, ownerId);
    assert.equal(r.fromOwnerKeyFile, true);
  });
  await t.test("AGENT_VAULT_KEY as a path", () => {
    const r = resolveKey({ env: { AGENT_VAULT_KEY: agentPath }, home });
    assert.equal(r.key.identity, agentId);
    assert.equal(r.fromOwnerKeyFile, false);
    assert.equal(r.key.pin?.vaultId, VID);
  });
  await t.test("AGENT_VAULT_KEY as a ~/ path", () => {
    const inHome = path.join(os.homedir(), `.av-test-${process.pid}.key`);
    writePrivate(inHome, agentContent);
    try {
      assert.equal(resolveKey({ env: { AGENT_VAULT_KEY: `~/${path.basename(inHome)}` }, home }).key.identity, agentId);
    } finally {
      fs.rmSync(inHome);
    }
  });
  await t.test("AGENT_VAULT_KEY as whole key file content (pins kept)", () => {
    const r = resolveKey({ env: { AGENT_VAULT_KEY: agentContent }, home });
    assert.equal(r.key.identity, agentId);
    assert.deepEqual(r.key.pin, { vaultId: VID, verifyKey: VK });
  });
  await t.test("AGENT_VAULT_KEY as a bare identity line", () => {
    const r = resolveKey({ env: { AGENT_VAULT_KEY: agentId }, home });
    assert.equal(r.key.identity, agentId);
    assert.equal(r.key.pin, null);
  });
  await t.test("empty AGENT_VAULT_KEY is unset", () => {
    assert.equal(resolveKey({ env: { AGENT_VAULT_KEY: "" }, home }).key.identity, ownerId);
  });
  await t.test("AGENT_VAULT_KEY naming a missing file fails (no fallback)", () => {
    assert.throws(() => resolveKey({ env: { AGENT_VAULT_KEY: path.join(dir, "nope.key") }, home }), VaultNotFoundError);
  });
  await t.test("AGENT_VAULT_KEY path with loose mode is refused", () => {
    const loose = path.join(dir, "loose.key");
    fs.writeFileSync(loose, agentContent, { mode: 0o644 });
    fs.chmodSync(loose, 0o644);
    assert.throws(() => resolveKey({ env: { AGENT_VAULT_KEY: loose }, home }), VaultNotFoundError);
  });
  await t.test("explicit keyPath beats the environment", () => {
    assert.equal(resolveKey({ keyPath: explicitPath, env: { AGENT_VAULT_KEY: agentId }, home }).key.identity, explicitId);
  });
  await t.test("explicit keyStr as content or path", () => {
    assert.equal(resolveKey({ keyStr: explicitId, env: { AGENT_VAULT_KEY: agentId }, home }).key.identity, explicitId);
    assert.equal(resolveKey({ keyStr: agentPath, env: {}, home }).key.identity, agentId);
  });
  await t.test("keyStr overrides keyPath, as in agent-vault 0.1 (keyPath is not even read)", () => {
    assert.equal(resolveKey({ keyPath: explicitPath, keyStr: agentId, env: {}, home }).key.identity, agentId);
    assert.equal(resolveKey({ keyPath: path.join(home, "missing.key"), keyStr: agentId, env: {}, home }).key.identity, agentId);
  });
  await t.test("loose <home>/owner.key is refused", () => {
    fs.chmodSync(path.join(home, "owner.key"), 0o644);
    assert.throws(() => resolveKey({ env: {}, home }), VaultNotFoundError);
    assert.equal(isMachineOwnerKey(ownerId, home), false);
    fs.chmodSync(path.join(home, "owner.key"), 0o600);
    assert.equal(isMachineOwnerKey(ownerId, home), true);
    assert.equal(isMachineOwnerKey(agentId, home), false);
  });
});

test("home: AGENT_VAULT_HOME, else ~/.agent-vault", () => {
  assert.equal(agentVaultHome({ AGENT_VAULT_HOME: "/x/y" }), "/x/y");
  assert.equal(agentVaultHome({}), path.join(os.homedir(), ".agent-vault"));
  assert.equal(agentVaultHome({ AGENT_VAULT_HOME: "" }), path.join(os.homedir(), ".agent-vault"));
  assert.equal(agentVaultHome({ AGENT_VAULT_HOME: "/x" }, "/override"), "/override");
});

test("owner verify key derivation is deterministic and well formed", async () => {
  const id = await generateX25519Identity();
  const vk = deriveOwnerVerifyKey(id);
  assert.ok(isVerifyKey(vk));
  assert.equal(deriveOwnerVerifyKey(id), vk);
  assert.notEqual(deriveOwnerVerifyKey(await generateX25519Identity()), vk);
});

test("owner verify key: known answer (computed independently with the openssl CLI)", () => {
  const id = "AGE-SECRET-KEY-1QG2E8TS7N30725MD8AHSRAQCSRHNK2KZDVQM5LNU0HCYRN9JF6UQE05M3Z";
  assert.equal(Buffer.from(identityBytes(id)!).toString("hex"), "021593ae1e9c5fe5536d3f6f01f41880ef3b2ac26b01ba7e7c7df041ccb24eb8");
  assert.equal(deriveOwnerVerifyKey(id), "ed25519:egrnYoJq0hsNUml+oNjUOK55Bh1GrPNY+wF+3R4XDoI=");
});
