package vault

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
)

// Conversion of a format 1 vault to format 2 (docs/format.md section 11). Format 1 kept one index per
// group under state/groups/, placements in the root and metadata only in .meta files.

type rootV1 struct {
	Type    string               `json:"type"`
	Format  int                  `json:"format"`
	VaultID string               `json:"vault_id"`
	Version uint64               `json:"version"`
	Owner   RootOwner            `json:"owner"`
	Files   map[string]string    `json:"files"`
	Agents  map[string]RootAgent `json:"agents"`
	Groups  map[string]struct {
		Members     []string `json:"members"`
		IndexSHA256 string   `json:"index_sha256"`
	} `json:"groups"`
	Placement map[string]string `json:"placement"`
}

type indexV1 struct {
	VaultID string `json:"vault_id"`
	Group   string `json:"group"`
	Secrets map[string]struct {
		Version     uint64   `json:"version"`
		EncSHA256   string   `json:"enc_sha256"`
		MetaSHA256  string   `json:"meta_sha256"`
		ExtraAgents []string `json:"extra_agents"`
		AllowHosts  []string `json:"allow_hosts"`
	} `json:"secrets"`
}

// limitV1Index bounds a format 1 group index, which format 1 capped at 64 MiB.
const limitV1Index = 64 << 20

// migrateFormat1 converts the format 1 vault in v, verified with the owner's key, to format 2 in one
// signed change. Every file it carries over is verified first; nothing is written when one fails. The
// caller holds the vault lock.
func (v *Vault) migrateFormat1(key *Key, signer ed25519.PrivateKey) error {
	raw, err := readRepoFile(v.Dir, rootFile, LimitRoot)
	if err != nil {
		return classifyRead(err, rootFile)
	}
	body, err := verifySigned(raw, signer.Public().(ed25519.PublicKey), rootSigDomainV1)
	if err != nil {
		return wrapErr(KindIntegrity, err, "the format 1 vault is not signed by this owner key")
	}
	var old rootV1
	if err := decodeJSON(body, &old, "state/root"); err != nil {
		return err
	}
	if old.Type != rootType || old.Format != formatV1 || !validVaultID(old.VaultID) || old.Owner.Recipient != key.Recipient {
		return newErr(KindIntegrity, "state/root: not a format 1 root of this owner")
	}
	home, err := homeDir()
	if err != nil {
		return err
	}
	if err := bindOwnedPath(home, v.Dir, old.VaultID, false); err != nil {
		return err
	}
	prev := &Root{Type: rootType, Format: FormatVersion, VaultID: old.VaultID, Version: old.Version,
		Owner: old.Owner, Files: map[string]FileRef{}, Agents: old.Agents, Groups: map[string]RootGroup{}, Index: map[string]ShardRef{}}
	if prev.Agents == nil {
		prev.Agents = map[string]RootAgent{}
	}
	// Re-parse the converted root as a reader would, so a format 1 root with bad names or recipients
	// stops the migration.
	if _, err := parseRoot(encodeJSON(prev)); err != nil {
		return err
	}
	t := newTx(v, signer, prev, Hash(raw))
	t.message = "migrate the vault to format 2"
	for g, og := range old.Groups {
		if err := CheckSegment(g); err != nil {
			return wrapErr(KindIntegrity, err, "state/root: bad group name")
		}
		t.root.Groups[g] = RootGroup{Members: orEmpty(og.Members)}
		rel := "state/groups/" + g + ".json"
		data, err := readVouchedHash(v.Dir, rel, limitV1Index, og.IndexSHA256)
		if err != nil {
			return err
		}
		var ix indexV1
		if err := decodeJSON(data, &ix, rel); err != nil {
			return err
		}
		if ix.VaultID != old.VaultID || ix.Group != g {
			return newErr(KindIntegrity, "%s belongs to another vault or group", rel)
		}
		for p, oe := range ix.Secrets {
			if err := CheckPath(p); err != nil {
				return wrapErr(KindIntegrity, err, "%s: bad secret name", rel)
			}
			metaBytes, err := readVouchedHash(v.Dir, metaFile(p), LimitOther, oe.MetaSHA256)
			if err != nil {
				return err
			}
			m, err := parseMeta(metaBytes, p, g)
			if err != nil {
				return err
			}
			enc, err := readVouchedHash(v.Dir, encFile(p), 2*MaxValueSize+int64(len(old.Agents)+1)*256, oe.EncSHA256)
			if err != nil {
				return err
			}
			if _, err := decrypt(enc, key.Identity); err != nil {
				return newErr(KindIntegrity, "the owner key cannot decrypt %s; nothing was converted", p)
			}
			e := Entry{Group: g, Version: oe.Version, EncSHA256: oe.EncSHA256, EncSize: int64(len(enc)),
				Created: fmtTime(m.Created), Rotated: fmtTime(m.Rotated), ExtraAgents: orEmpty(oe.ExtraAgents), AllowHosts: orEmpty(oe.AllowHosts)}
			if m.Expires != nil {
				e.Expires = fmtTime(*m.Expires)
			}
			for _, a := range e.ExtraAgents {
				if _, ok := old.Agents[a]; !ok {
					return newErr(KindIntegrity, "%s: %s names unknown agent %q", rel, p, a)
				}
			}
			meta := encodeMeta(metaOf(t.root, p, &e))
			if string(meta) != string(metaBytes) {
				t.write(metaFile(p), meta)
			}
			e.MetaSHA256, e.MetaSize = Hash(meta), int64(len(meta))
			sh, err := t.shardFor(p)
			if err != nil {
				return err
			}
			t.putEntry(sh, p, e, nil)
		}
		t.remove(rel)
	}
	created := now()
	if cfg, err := readRepoFile(v.Dir, configFile, LimitOther); err == nil {
		if c, err := parseConfig(cfg); err == nil && c.Created != "" {
			created = c.Created
		}
	}
	t.writeViewFiles(created)
	rootBytes, err := t.commit()
	if err != nil {
		return err
	}
	if err := raiseMarks(home, old.VaultID, t.root.Version, Hash(rootBytes), "", nil); err != nil {
		return err
	}
	os.Remove(filepath.Join(v.Dir, "state", "groups")) // empty now; a leftover file keeps it, and check names it
	return v.Record()
}

// shardFor returns the shard of path as edited by t, for a change built without an Owner.
func (t *tx) shardFor(path string) (*Shard, error) {
	id := ShardOf(path)
	sh, ok := t.shards[id]
	if !ok {
		sh = &Shard{Type: shardType, Format: FormatVersion, VaultID: t.root.VaultID, Shard: id, Secrets: map[string]Entry{}}
		t.shards[id] = sh
	}
	for other := range sh.Secrets {
		if other != path && strings.EqualFold(other, path) {
			return nil, newErr(KindIntegrity, "secrets %s and %s differ only in case", other, path)
		}
	}
	return sh, nil
}

// writeViewFiles writes config.yaml, owner.pub and .gitignore for t's root and vouches for them.
func (t *tx) writeViewFiles(created string) {
	for rel, data := range map[string][]byte{
		configFile:   encodeConfig(&vaultConfig{Format: FormatVersion, VaultID: t.root.VaultID, OwnerVerifyKey: t.root.Owner.VerifyKey, Created: created}),
		ownerPubFile: []byte(t.root.Owner.Recipient + "\n"),
		ignoreFile:   []byte(gitignoreContent),
	} {
		t.write(rel, data)
		t.root.Files[rel] = refOf(data)
	}
}
