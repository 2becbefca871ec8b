// Keys the Node SDK cannot use: passphrase-protected key files and age plugin identities (format.md 3.6, 3.7)
// are refused with VaultNotFoundError naming what can read them; plugin recipients in the signed state are
// accepted, so a vault whose owner or agents hold hardware keys stays readable by the others.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { VaultNotFoundError } from "../src/errors.js";
import { parseKeyFile, readKeyFile } from "../src/keys.js";
import { isPluginRecipient, isRecipient } from "../src/recipient.js";
import { tempDir } from "./fixture.js";

// age-plugin-avtest --generate (internal/testplugin): a recipient comment and a plugin identity.
const RCPT =
  "age1avtest1v9nk2vtdwscxga3nxp3hg7npwdekz6nvwpjk6ertw43hw7rswpskud3edfa8vmtt89nnxvpcw4sn2ve5x3chzemww968ymrvvakqmufy65";
const PLUGIN_KEY = [
  "# avtest simulated device",
  `# public key: ${RCPT}`,
  "AGE-PLUGIN-AVTEST-1G9R52T2NG4P4Y32594952KFDX9T9J4PJ2P8Y63JV2E24XV69X3VRV5EKX4DYXDJVGUM5X524F3V4YJ6VXUU955JH2U65UJ6XGEP4S4ZCGVE9XVPC2VUNGJQAXH5S9",
  "",
].join("\n");
const ARMORED = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IHNjcnlwdCBKSyt5Y05NbEdPOFZHeGt0\n-----END AGE ENCRYPTED FILE-----\n";

test("a plugin identity is refused with a pointer to the CLI and the MCP server", () => {
  assert.throws(
    () => parseKeyFile(PLUGIN_KEY, "hw.key"),
    (e: unknown) =>
      e instanceof VaultNotFoundError &&
      /plugin identity/.test(e.message) &&
      /agent-vault CLI/.test(e.message) &&
      /MCP server/.test(e.message) &&
      !e.message.includes("AGE-PLUGIN-AVTEST-1G9"),
  );
});

test("a passphrase-protected key file is refused, armored or binary", () => {
  assert.throws(() => parseKeyFile(ARMORED, "owner.key"), (e: unknown) => e instanceof VaultNotFoundError && /passphrase-protected.*agent-vault CLI/.test(e.message));
  const dir = tempDir();
  for (const [name, data] of [
    ["armored.key", Buffer.from(ARMORED)],
    ["binary.key", Buffer.concat([Buffer.from("age-encryption.org/v1\n-> scrypt x 18\n"), Buffer.from([0xff, 0xfe])])],
  ] as const) {
    const p = path.join(dir, name);
    fs.writeFileSync(p, data, { mode: 0o600 });
    assert.throws(() => readKeyFile(p), (e: unknown) => e instanceof VaultNotFoundError && /passphrase-protected/.test(e.message));
  }
});

test("plugin recipients are recipients; age1pq, upper case, bad checksums are not plugin recipients", () => {
  assert.ok(isPluginRecipient(RCPT) && isRecipient(RCPT));
  assert.ok(!isPluginRecipient(RCPT.toUpperCase()));
  assert.ok(!isPluginRecipient(RCPT.slice(0, -1) + (RCPT.endsWith("q") ? "p" : "q")));
  const x = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
  assert.ok(!isPluginRecipient(x) && isRecipient(x));
  assert.ok(!isPluginRecipient("age1pq1" + "q".repeat(60)));
  assert.ok(!isPluginRecipient("age1yubikey1" + "q".repeat(1100)));
  assert.ok(!isPluginRecipient(undefined));
});
