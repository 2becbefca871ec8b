// Command bench measures agent-vault against the stock age CLI on this machine and prints a table:
// the median time of `agent-vault get` against `age -d -i KEY FILE` on the same ciphertext, and the
// time of grant and revoke on groups of 1,000 and 10,000 secrets. Run it with `make bench`.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agent-vault/agent-vault/vault"
)

func main() {
	bin := flag.String("bin", "bin/agent-vault", "the agent-vault binary to measure")
	runs := flag.Int("runs", 300, "runs of each get command")
	sizes := flag.String("sizes", "1000,10000", "group sizes for grant and revoke")
	flag.Parse()
	if err := run(*bin, *runs, *sizes); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(bin string, runs int, sizes string) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	agePath, err := exec.LookPath("age")
	if err != nil {
		return fmt.Errorf("the stock age CLI is needed (apt-get install age): %w", err)
	}
	work, err := os.MkdirTemp("", "agent-vault-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	home := filepath.Join(work, "home")
	for _, kv := range [][2]string{{"HOME", home}, {"AGENT_VAULT_HOME", ""}, {"AGENT_VAULT_KEY", ""},
		{"GIT_CONFIG_GLOBAL", filepath.Join(work, "gitconfig")}, {"GIT_CONFIG_NOSYSTEM", "1"}} {
		os.Setenv(kv[0], kv[1])
	}
	os.WriteFile(filepath.Join(work, "gitconfig"), []byte("[user]\n\tname = bench\n\temail = bench@example.com\n"), 0o644)
	repo := filepath.Join(work, "repo")
	av := func(args ...string) error {
		cmd := exec.Command(bin, append([]string{"-C", repo}, args...)...)
		cmd.Stdin = strings.NewReader("sk_live_bench_value_0123456789")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("agent-vault %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	for _, args := range [][]string{{"init", repo}, {"add-agent", "ci"}, {"add-agent", "deployer"}, {"set", "stripe/api-key"}, {"grant", "ci", "stripe"}} {
		if err := av(args...); err != nil {
			return err
		}
	}
	ciKey := filepath.Join(home, ".agent-vault", "agents", "ci.key")
	enc := filepath.Join(repo, ".agent-vault", "secrets", "stripe", "api-key.enc")

	fmt.Printf("agent-vault benchmark (%d runs per get command; medians)\n\n", runs)
	getOnly := filepath.Join(work, "getonly")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s", "-o", getOnly, "./bench/getonly")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building bench/getonly: %v\n%s", err, out)
	}
	times, err := interleave(runs, [][]string{
		{agePath, "-d", "-i", ciKey, enc},
		{bin, "-C", repo, "get", "stripe/api-key", "--no-pull", "--key", ciKey},
		{getOnly, repo, ciKey, "stripe/api-key"},
	})
	if err != nil {
		return err
	}
	tAge, tAV, tOnly := times[0], times[1], times[2]
	fmt.Printf("%-60s %12s %8s\n", "operation", "median", "ratio")
	fmt.Printf("%-60s %12s %8s\n", "age -d -i KEY FILE (stock CLI)", fmtDur(tAge), "1.00x")
	fmt.Printf("%-60s %12s %7.2fx   (target <= 1.15x)\n", "agent-vault get --no-pull --key KEY (agent)", fmtDur(tAV), float64(tAV)/float64(tAge))
	fmt.Printf("%-60s %12s %7.2fx\n", "  the same read path alone (bench/getonly)", fmtDur(tOnly), float64(tOnly)/float64(tAge))

	v, err := vault.Find(repo)
	if err != nil {
		return err
	}
	ownerKey, err := vault.LoadKeyFile(filepath.Join(home, ".agent-vault", "owner.key"))
	if err != nil {
		return err
	}
	ownerKey.IsOwner = true
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("bad size %q", f)
		}
		group := fmt.Sprintf("bulk%d", n)
		start := time.Now()
		if err := populate(v, ownerKey, group, n); err != nil {
			return err
		}
		if err := av("repair"); err != nil { // commits the populated group
			return err
		}
		fill := time.Since(start)
		for _, op := range []string{"grant", "revoke"} {
			start := time.Now()
			if err := av(op, "deployer", group); err != nil {
				return err
			}
			fmt.Printf("%-60s %12s\n", fmt.Sprintf("agent-vault %s, group of %d secrets (CLI, with git commit)", op, n), fmtDur(time.Since(start)))
		}
		// The same change through the vault package: re-encryption and the crash-safe write, without
		// Git, whose share is writing two new objects per secret.
		for _, op := range []string{"grant", "revoke"} {
			start := time.Now()
			if err := apiChange(v, ownerKey, op, "deployer", group); err != nil {
				return err
			}
			fmt.Printf("%-60s %12s\n", fmt.Sprintf("  %s through the vault package (no git)", op), fmtDur(time.Since(start)))
		}
		if err := av("repair"); err != nil { // commits the package-level changes
			return err
		}
		fmt.Printf("%-60s %12s\n", fmt.Sprintf("  (setup: storing %d secrets in one change, with git commit)", n), fmtDur(fill))
	}
	return nil
}

// apiChange grants or revokes through the vault package.
func apiChange(v *vault.Vault, key *vault.Key, op, agent, group string) error {
	o, err := v.OpenOwner(key)
	if err != nil {
		return err
	}
	defer o.Close()
	if op == "grant" {
		_, _, err = o.Grant(agent, group)
	} else {
		_, err = o.Revoke(agent, group)
	}
	return err
}

// populate stores n secrets in group in one change.
func populate(v *vault.Vault, key *vault.Key, group string, n int) error {
	o, err := v.OpenOwner(key)
	if err != nil {
		return err
	}
	defer o.Close()
	paths := make([]string, n)
	values := make([][]byte, n)
	for i := range paths {
		paths[i] = fmt.Sprintf("%s/secret-%05d", group, i)
		values[i] = []byte(fmt.Sprintf("value-%d", i))
	}
	return o.SetMany(paths, values, vault.SetOptions{})
}

// interleave runs the commands in turn, so that all see the same machine load, and returns the median
// wall time of each.
func interleave(runs int, cmds [][]string) ([]time.Duration, error) {
	times := make([][]time.Duration, len(cmds))
	for i := 0; i < runs; i++ {
		for j, argv := range cmds {
			cmd := exec.Command(argv[0], argv[1:]...)
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out)
			}
			times[j] = append(times[j], time.Since(start))
		}
	}
	medians := make([]time.Duration, len(cmds))
	for j := range times {
		medians[j] = median(times[j])
	}
	return medians, nil
}

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
