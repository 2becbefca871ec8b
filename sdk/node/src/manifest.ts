/**
 * The access policy as agent-vault 0.1's `Manifest` showed it, built from a verified state.
 *
 * agent-vault 0.1 parsed `manifest.yaml`, which anyone who could push could edit. Here a {@link Manifest} is made
 * by `Vault.manifest` from the signed root and its verified index shards only, so every answer is what the owner
 * signed. It is a snapshot: read `vault.manifest` again (or call `vault.reload()` first) for the current one.
 */

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

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Agents, groups and the secrets of each group, from one verified state. Every array is sorted and a fresh copy. */
export class Manifest {
  readonly #agents: Map<string, string[]>;
  readonly #groups: Map<string, string[]>;
  readonly #secrets: Map<string, { group: string; readers: string[] }>;

  /** `entries`: every secret path of the index with its group and extra agents. */
  constructor(root: Root, entries: ReadonlyMap<string, { readonly group: string; readonly extraAgents: readonly string[] }>) {
    this.#agents = new Map([...root.agents.keys()].map((a) => [a, [] as string[]]));
    this.#groups = new Map();
    for (const [name, g] of root.groups) {
      this.#groups.set(name, [...g.members].sort(byString));
      for (const m of g.members) {
        const list = this.#agents.get(m) ?? [];
        list.push(name);
        this.#agents.set(m, list);
      }
    }
    for (const list of this.#agents.values()) list.sort(byString);
    this.#secrets = new Map();
    for (const [p, e] of entries) {
      const readers = [...new Set([...(this.#groups.get(e.group) ?? []), ...e.extraAgents])].sort(byString);
      this.#secrets.set(p, { group: e.group, readers });
    }
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
