/**
 * A child process that runs one Git step of the SDK (a clone into the cache, or a pull into the pull view) with
 * the same code as the asynchronous path (gitsync.ts), so that the synchronous methods of {@link Vault}
 * (`listSecrets`, `listAgents`, `pull`, `manifest`, kept from agent-vault 0.1) can wait for it with
 * `spawnSync`. Input: one JSON argument; output: one JSON line on stdout. Never prints a secret: it handles no
 * key and no value.
 */

import { AgentVaultError } from "./errors.js";
import { Puller, ensureClone } from "./gitsync.js";

interface Request {
  readonly op: "clone" | "pull";
  readonly home?: string;
  readonly url?: string;
  readonly workTree?: string;
  readonly timeoutMs: number;
}

const warnings: string[] = [];
const logger = { warn: (m: string) => void warnings.push(m) };

async function main(req: Request): Promise<object> {
  if (req.op === "clone") {
    try {
      const { dir, fresh } = await ensureClone(req.home ?? "", req.url ?? "", req.timeoutMs);
      return { ok: true, dir, fresh };
    } catch (err) {
      const kind = err instanceof AgentVaultError ? err.kind : "error";
      return { ok: false, kind, message: err instanceof Error ? err.message : String(err) };
    }
  }
  await new Puller({ workTree: req.workTree ?? "", intervalMs: 0, timeoutMs: req.timeoutMs, logger }).maybePull();
  return { ok: true };
}

const result = await main(JSON.parse(process.argv[2] ?? "{}") as Request);
process.stdout.write(JSON.stringify({ ...result, warnings }) + "\n");
