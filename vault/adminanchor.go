package vault

// adminAnchor returns the anchor of an owner key that is not the founding key of the vault in v (an admin
// added later, docs/format.md section 4.1), or nil when the key is to be trusted as the founding owner
// key (section 6.1 rule 2): config.yaml is missing or names the key's own verify key vk, or this machine
// recorded vk as the vault's owner key.
//
// The anchor is the founding verify key this machine recorded for the vault id config.yaml names
// (known_vaults), or, on the first use of the vault on this machine, the one config.yaml publishes
// (trust on first use, bound to the directory as for agents, section 6.2). Either way the verified state
// must then list vk as an admin's verify key, or the key has no role.
func (v *Vault) adminAnchor(key *Key, vk, home string) (*anchor, error) {
	cfgBytes, err := readRepoFile(v.Dir, configFile, LimitOther)
	if err != nil {
		return nil, nil
	}
	cfg, err := parseConfig(cfgBytes)
	if err != nil || cfg.OwnerVerifyKey == vk {
		return nil, nil
	}
	k, err := loadKnownVaults(home)
	if err != nil {
		return nil, err
	}
	known, ok := k.owners[cfg.VaultID]
	if ok && known == vk {
		return nil, nil
	}
	if id := ownedPathID(home, v.recordDir()); id == cfg.VaultID && !ok {
		return nil, nil // the founding owner's own vault on this machine, whose config.yaml was changed
	}
	a := &anchor{vaultID: cfg.VaultID, verifyKey: known, admin: vk}
	if !ok {
		first, err := firstUse(home, v.trustDir(), "", cfg.VaultID, cfg.OwnerVerifyKey)
		if err != nil {
			return nil, err
		}
		a.verifyKey, a.unpinned, a.tofu = cfg.OwnerVerifyKey, true, first
	}
	pub, err := ParseVerifyKey(a.verifyKey)
	if err != nil {
		return nil, wrapErr(KindIntegrity, err, "owner verify key")
	}
	a.pub = pub
	return a, nil
}

// TrustVault records in this machine's known_vaults that vault vaultID's founding owner verify key is
// verifyKey (docs/format.md section 4.1): a new admin runs it with what the admin who added it printed,
// so that its first use of the vault trusts that key rather than the one the repository publishes. A
// vault already recorded with another key is refused (integrity); the same record is a no-op.
func TrustVault(vaultID, verifyKey string) error {
	if !validVaultID(vaultID) {
		return newErr(KindUsage, "%q is not a vault id (32 lowercase hex characters)", vaultID)
	}
	if _, err := ParseVerifyKey(verifyKey); err != nil {
		return newErr(KindUsage, "%q is not a verify key (ed25519: and the base64 of 32 bytes)", verifyKey)
	}
	home, err := homeDir()
	if err != nil {
		return err
	}
	return rememberVault(home, vaultID, verifyKey)
}
