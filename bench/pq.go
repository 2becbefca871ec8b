package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// What a post-quantum vault (init --pq: hybrid ML-KEM-768 + X25519 keys, docs/format.md section 3.1) costs
// beside a classic one of the same n secrets, both built by this agent-vault: the size of a secret file and
// of each recipient's stanza, get, grant and revoke of a group of n secrets, import of n secrets, and the size
// of the repository (the vault's files and Git's objects).

type pqSide struct {
	label      string
	v          *vaultDir
	importTime time.Duration
	size2      int64 // a secret's .enc with two recipients (agent ci and the owner)
	size3      int64 // the same after deployer was granted (three recipients)
	vaultBytes int64 // .agent-vault/ after the import
	gitBytes   int64 // .git/ after the import
	get        *result
	grant      []time.Duration
	revoke     []time.Duration
	err        error
}

// measurePQ builds a classic and a post-quantum vault of n secrets in work and prints the comparison.
func measurePQ(c config, bin, work string, n int) {
	fmt.Fprintf(os.Stderr, "post-quantum comparison at %d secrets\n", n)
	im := ours(bin)
	sides := []*pqSide{{label: "classic (X25519)"}, {label: "post-quantum (ML-KEM-768 + X25519)"}}
	for i, s := range sides {
		root := filepath.Join(work, fmt.Sprintf("pq-%d-%d", i, n))
		s.v = newVaultDir(im, n, root)
		s.err = buildPQSide(s, bin, n, i == 1)
		if c.work == "" {
			defer os.RemoveAll(root)
		}
	}
	path := secretPath(n / 2)
	var specs []*spec
	for _, s := range sides {
		if s.err == nil {
			v := s.v
			specs = append(specs, &spec{label: s.label, cmd: func(int) *exec.Cmd { return im.get(v, path) }})
		}
	}
	runs := max(c.runs/3, 10)
	results := interleave(specs, 3, runs)
	k := 0
	for _, s := range sides {
		if s.err != nil {
			continue
		}
		s.get = results[k]
		k++
		enc := filepath.Join(s.v.repo, ".agent-vault", "secrets", filepath.FromSlash(path)+".enc")
		for r := 0; r < max(c.repeat, 1); r++ {
			for _, op := range []string{"grant", "revoke"} {
				d, _, _, err := runOnce(im.change(s.v, op, newAgent, group), true)
				if err != nil {
					s.err = err
					break
				}
				if op == "grant" {
					s.grant = append(s.grant, d)
					if fi, err := os.Stat(enc); err == nil {
						s.size3 = fi.Size()
					}
				} else {
					s.revoke = append(s.revoke, d)
				}
			}
		}
	}

	fmt.Printf("\nPost-quantum vaults: %s secrets, classic vs post-quantum, both this agent-vault (get: median of %d runs; grant/revoke of the group of %s secrets: median of %d)\n",
		withCommas(n), runs, withCommas(n), max(c.repeat, 1))
	header("", "classic", "post-quantum", "ratio")
	cl, pq := sides[0], sides[1]
	for _, s := range sides {
		if s.err != nil {
			failed(s.label, s.err)
		}
	}
	if cl.err != nil || pq.err != nil {
		return
	}
	bytesRow := func(label string, a, b int64) {
		row(label, fmt.Sprintf("%d B", a), fmt.Sprintf("%d B", b), fmtRatio(float64(b)/float64(max(a, 1))))
	}
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	bytesRow("secret file, 2 recipients", cl.size2, pq.size2)
	bytesRow("each further recipient", cl.size3-cl.size2, pq.size3-pq.size2)
	row("get (agent)", fmtDur(cl.get.median()), fmtDur(pq.get.median()), fmtRatio(ratio(pq.get.median(), cl.get.median())))
	row("grant (group)", fmtDur(medianDur(cl.grant)), fmtDur(medianDur(pq.grant)), fmtRatio(ratio(medianDur(pq.grant), medianDur(cl.grant))))
	row("revoke (group)", fmtDur(medianDur(cl.revoke)), fmtDur(medianDur(pq.revoke)), fmtRatio(ratio(medianDur(pq.revoke), medianDur(cl.revoke))))
	row("import (all)", fmtDur(cl.importTime), fmtDur(pq.importTime), fmtRatio(ratio(pq.importTime, cl.importTime)))
	row(".agent-vault/", mib(cl.vaultBytes), mib(pq.vaultBytes), fmtRatio(float64(pq.vaultBytes)/float64(max(cl.vaultBytes, 1))))
	row(".git/", mib(cl.gitBytes), mib(pq.gitBytes), fmtRatio(float64(pq.gitBytes)/float64(max(cl.gitBytes, 1))))
}

// buildPQSide makes a vault of n secrets (agent ci granted the group, deployer not) and records its sizes.
func buildPQSide(s *pqSide, bin string, n int, pq bool) error {
	v := s.v
	if err := os.MkdirAll(v.home, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(v.home, ".gitconfig"), []byte("[user]\n\tname = bench\n\temail = bench@example.com\n"), 0o600); err != nil {
		return err
	}
	initArgs := []string{bin, "init", v.repo}
	if pq {
		initArgs = append(initArgs, "--pq")
	}
	for _, argv := range [][]string{initArgs, {bin, "-C", v.repo, "add-agent", reader}, {bin, "-C", v.repo, "add-agent", newAgent},
		{bin, "-C", v.repo, "grant", reader, group, "--create"}} {
		if err := v.run(v.command(v.root, argv...)); err != nil {
			return err
		}
	}
	file := filepath.Join(v.root, "secrets.env")
	if err := writeDotenv(file, n); err != nil {
		return err
	}
	d, _, _, err := runOnce(v.impl.importFile(v, v.repo, file), true)
	if err != nil {
		return err
	}
	s.importTime = d
	fi, err := os.Stat(filepath.Join(v.repo, ".agent-vault", "secrets", filepath.FromSlash(secretPath(n/2))+".enc"))
	if err != nil {
		return err
	}
	s.size2 = fi.Size()
	s.vaultBytes = treeBytes(filepath.Join(v.repo, ".agent-vault"))
	s.gitBytes = treeBytes(filepath.Join(v.repo, ".git"))
	return nil
}

// treeBytes is the sum of the sizes of the regular files under dir.
func treeBytes(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return total
}
