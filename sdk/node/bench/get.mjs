// Measures Vault.get with the vault open and no pull. Not a test: run `npm run bench` (it builds first).
import * as path from "node:path";
import { Vault } from "../dist/src/index.js";
import { BASIC, Fixture, freshHome, tempDir, writePrivate } from "../dist/test/fixture.js";

const fx = await Fixture.create();
const many = { ...BASIC, secrets: [...BASIC.secrets] };
for (let i = 0; i < 2000; i++) many.secrets.push({ path: `stripe/k${i}`, value: `v${i}` });
await fx.write(many);
const keyPath = writePrivate(path.join(tempDir(), "ci.key"), await fx.agentKeyFile("ci"));
const open = () => new Vault({ repoPath: fx.repo, keyPath, home: freshHome(), autoPull: false, env: {} });
const v = open();
await v.get("stripe/api-key"); // open, verify, cache
for (let i = 0; i < 500; i++) await v.get("stripe/api-key");
const n = 10000;
let t = process.hrtime.bigint();
for (let i = 0; i < n; i++) await v.get("stripe/api-key");
const perGet = Number(process.hrtime.bigint() - t) / n / 1000;
t = process.hrtime.bigint();
for (let i = 0; i < 20; i++) await open().get("stripe/api-key");
const perCold = Number(process.hrtime.bigint() - t) / 20 / 1000;
console.log(`get, vault open, no pull (${many.secrets.length} secrets in the group, 2 recipients): ${perGet.toFixed(1)} µs per call`);
console.log(`first get on a new Vault (resolve key, locate, verify root and index, write marks): ${perCold.toFixed(1)} µs`);
