/**
 * The access policy as agent-vault 0.1's `Manifest` showed it.
 *
 * agent-vault 0.1 parsed `manifest.yaml`, which anyone who could push could edit. Here the {@link Manifest} that
 * `Vault.manifest` returns is made from the signed root and its verified index shards only, so every answer is what
 * the owner signed. It is a snapshot: read `vault.manifest` again (or call `vault.reload()` first) for the current
 * one. agent-vault 0.1's two other ways to make one are kept for code that calls them, and are NOT verified:
 * `new Manifest(data)` from a parsed `manifest.yaml` and {@link Manifest.load} from the file.
 */

import * as fs from "node:fs";
import { ManifestError } from "./errors.js";
import { parseYamlMapping } from "./metadata.js";
import type { Root } from "./root.js";

/** An agent and its groups (agent-vault 0.1's shape). */
export interface ManifestAgent {
  readonly name: string;
  readonly groups: string[];
}

/** A group and the paths of its secrets (agent-vault 0.1's shape). */
export interface ManifestGroup {
  readonly name: string;
  readonly secrets: string[];
}

/**
 * A parsed `manifest.yaml`: agent-vault 0.1's shape (`agents: [{name, groups}]`, `groups: [{name, secrets}]`) or
 * this format's (`agents` and `groups` as mappings by name; it lists no secrets).
 */
export interface ManifestData {
  readonly version?: number;
  readonly owners?: ReadonlyArray<{ readonly name: string; readonly public_key?: string }>;
  readonly agents?: ReadonlyArray<{ readonly name: string; readonly groups?: readonly string[] }> | Readonly<Record<string, { readonly groups?: readonly string[] }>>;
  readonly groups?: ReadonlyArray<{ readonly name: string; readonly secrets?: readonly string[] }> | Readonly<Record<string, unknown>>;
}

type Entries = ReadonlyMap<string, { readonly group: string; readonly extraAgents: readonly string[] }>;

/** The largest `manifest.yaml` that {@link Manifest.load} parses (agent-vault 0.1's lists every secret). */
const MAX_MANIFEST_BYTES = 16 << 20;

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** [name, entry] of each entry of a list of `{name, ...}` or of a mapping by name; anything else skipped. */
function named(v: unknown): Array<[string, Record<string, unknown>]> {
  const obj = (e: unknown): Record<string, unknown> => (typeof e === "object" && e !== null && !Array.isArray(e) ? (e as Record<string, unknown>) : {});
  if (Array.isArray(v)) return v.map(obj).filter((e) => typeof e["name"] === "string").map((e) => [e["name"] as string, e]);
  if (typeof v === "object" && v !== null) return Object.entries(v).map(([k, e]) => [k, obj(e)]);
  return [];
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);

/** The agents (with their groups) and groups (with their secret paths) of a parsed manifest.yaml. */
function entriesOfData(data: ManifestData): { agents: Map<string, string[]>; groups: Map<string, string[]> } {
  return {
    agents: new Map(named(data.agents).map(([n, e]) => [n, strings(e["groups"])])),
    groups: new Map(named(data.groups).map(([n, e]) => [n, strings(e["secrets"])])),
  };
}

/** Agents, groups and the secrets of each group, from one verified state. Every array is sorted and a fresh copy. */
export class Manifest {
  readonly #agents: Map<string, string[]>;
  readonly #groups: Map<string, string[]>;
  readonly #secrets: Map<string, { group: string; readers: string[] }>;

  /**
   * agent-vault 0.1's constructor: `data` is a parsed `manifest.yaml` ({@link ManifestData}), taken as given, NOT
   * verified; entries of other shapes are skipped. A group's members are the agents that list it; a secret's agents
   * are its group's members.
   */
  constructor(data: ManifestData);
  /** `Vault.manifest`'s: a verified root and every secret path of its index with its group and extra agents. */
  constructor(root: Root, entries: Entries);
  constructor(source: ManifestData | Root, entries?: Entries) {
    this.#agents = new Map();
    this.#groups = new Map();
    this.#secrets = new Map();
    if (entries === undefined) {
      const data = entriesOfData((source ?? {}) as ManifestData);
      for (const [g] of data.groups) this.#groups.set(g, []);
      for (const [a, groups] of data.agents) this.#join(a, groups);
      for (const [g, paths] of data.groups) for (const p of paths) this.#secrets.set(p, { group: g, readers: [...(this.#groups.get(g) ?? [])] });
      return;
    }
    const root = source as Root;
    for (const a of root.agents.keys()) this.#agents.set(a, []);
    for (const [name, g] of root.groups) {
      this.#groups.set(name, []);
      for (const m of g.members) this.#join(m, [name]);
    }
    for (const [p, e] of entries) {
      const readers = [...new Set([...(this.#groups.get(e.group) ?? []), ...e.extraAgents])].sort(byString);
      this.#secrets.set(p, { group: e.group, readers });
    }
  }

  /** Makes `agent` a member of each of `groups`, keeping every list sorted and without repeats. */
  #join(agent: string, groups: readonly string[]): void {
    const mine = new Set([...(this.#agents.get(agent) ?? []), ...groups]);
    this.#agents.set(agent, [...mine].sort(byString));
    for (const g of groups) this.#groups.set(g, [...new Set([...(this.#groups.get(g) ?? []), agent])].sort(byString));
  }

  /**
   * agent-vault 0.1's `Manifest.load`: reads and parses a `manifest.yaml` file (see the data constructor), NOT
   * verified; `Vault.manifest` gives the policy the owner signed. Throws ManifestError when the file cannot be read
   * ("Manifest not found: PATH"), is larger than 16 MiB, or is not YAML holding a mapping ("Invalid manifest YAML: ...").
   */
  static load(filePath: string): Manifest {
    let text: string;
    try {
      const st = fs.statSync(filePath);
      if (st.isFile() && st.size > MAX_MANIFEST_BYTES) throw new ManifestError(`Invalid manifest file: ${filePath} is larger than ${MAX_MANIFEST_BYTES} bytes`);
      text = fs.readFileSync(filePath, "utf8");
    } catch (err) {
      if (err instanceof ManifestError) throw err;
      throw new ManifestError(`Manifest not found: ${filePath}`);
    }
    return new Manifest(parseYamlMapping(text, "manifest") as ManifestData);
  }

  /** The groups `agentName` is a member of ([] for an unknown agent). */
  agentGroups(agentName: string): string[] {
    return [...(this.#agents.get(agentName) ?? [])];
  }

  /** The paths of the secrets of `groupName` ([] for an unknown group). */
  groupSecrets(groupName: string): string[] {
    return this.listSecrets(groupName);
  }

  /** The agents that can read `secretPath`: its group's members and its extra agents ([] when unknown). */
  agentsForSecret(secretPath: string): string[] {
    return [...(this.#secrets.get(secretPath)?.readers ?? [])];
  }

  /** Every agent with its groups, sorted by name. */
  listAgents(): ManifestAgent[] {
    return [...this.#agents.keys()].sort(byString).map((name) => ({ name, groups: this.agentGroups(name) }));
  }

  /** Every group with the paths of its secrets, sorted by name. */
  listGroupEntries(): ManifestGroup[] {
    return this.listGroups().map((name) => ({ name, secrets: this.groupSecrets(name) }));
  }

  /** Every group name. */
  listGroups(): string[] {
    return [...this.#groups.keys()].sort(byString);
  }

  /** Every secret path, or those of `group`. */
  listSecrets(group?: string): string[] {
    return [...this.#secrets].filter(([, s]) => group === undefined || s.group === group).map(([p]) => p).sort(byString);
  }
}
