package crash_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// agent-vault sync in the kill trials (docs/format.md section 9.4; issue 12 item 4): a sync killed at any
// instant leaves a state that repair, or running sync again, finishes, with every value the old or the
// new one, agents reading exactly what they are granted, and no exit 6.
//
// Two templates share one history. Both have a bare remote (remote.git) to which a second machine of
// the owner (its own home, the same owner key) pushed four changes: bulk/secret-007 set, bulk/secret-013
// removed, dep granted bulk, bulk/remote-new added.
//   - sync-ff: this machine made no change since; sync verifies the upstream and fast-forwards to it.
//   - sync-merge: this machine made three unpushed changes meanwhile (ops/key-1 set, bulk/local-new
//     added, ci revoked from bulk); sync re-applies them on the upstream's verified state, signs a version
//     above both, pushes the merge commit, then applies it here (re-wrapping group bulk).
//
// sync's commit point is its push: once the remote holds the merge, the merge is the new state. A kill
// between the push and the local commit point (.pending/root) leaves this machine behind the remote;
// repair (through the marker sync writes before pushing) fetches and fast-forwards to the pushed merge,
// as sync again or any owner command would. A third of sync-merge's trials are killed the moment the
// remote's branch moves, to land in that window; a push that a process-only kill left running may still
// land after repair, and then the trials run sync once more, which must fast-forward.

// remoteValues are the changes the other machine pushed, as values.
func remoteValues(m map[string]string, _ string) {
	m["bulk/secret-007"] = "remote-007"
	delete(m, "bulk/secret-013")
	m["bulk/remote-new"] = "remote-new"
}

// syncKinds prepares the two sync templates of the owner on two machines from the main one and returns
// their kinds.
func (k *killer) syncKinds() []*kind {
	return k.syncPair(syncSpec{
		name: "sync",
		from: k.main,
		other: func(dir string, u user) user {
			// The other machine is the owner's: its own home, the same owner key.
			u2 := user{home: filepath.Join(dir, "home2")}
			if err := os.MkdirAll(u2.avHome(), 0o700); err != nil {
				k.t.Fatal(err)
			}
			ownerKey, err := os.ReadFile(u.ownerKey())
			if err != nil {
				k.t.Fatal(err)
			}
			if err := os.WriteFile(u2.ownerKey(), ownerKey, 0o600); err != nil {
				k.t.Fatal(err)
			}
			return u2
		},
	})
}

// syncSpec says how syncPair prepares a pair of sync templates: name-ff and name-merge, copies of from
// with a bare remote. other returns the user of the machine that pushes its changes (its home below dir
// is removed afterwards); localFirst and remoteFirst, when set, make changes of the admin set on this
// machine (not pushed) and on the other one (pushed) before the changes every pair makes.
type syncSpec struct {
	name        string
	from        *tmpl
	other       func(dir string, u user) user
	localFirst  func(u user, top string)
	remoteFirst func(u2 user, m2 string)
}

// syncPair prepares the templates of spec and returns their kinds. The other machine pushes, after
// spec.remoteFirst: bulk/secret-007 set, bulk/secret-013 removed, dep granted bulk, bulk/remote-new
// added. This machine, for the merge template only, makes after spec.localFirst: ops/key-1 set,
// bulk/local-new added, ci revoked from bulk.
func (k *killer) syncPair(spec syncSpec) []*kind {
	t := k.t
	t.Helper()
	mergeDir, ffDir := filepath.Join(k.base, "template-"+spec.name+"-merge"), filepath.Join(k.base, "template-"+spec.name+"-ff")
	if err := copyTree(spec.from.dir, mergeDir, gitObject); err != nil {
		t.Fatal(err)
	}
	u := user{home: filepath.Join(mergeDir, "home")}
	top := filepath.Join(mergeDir, "vault")
	remote := filepath.Join(mergeDir, "remote.git")
	u.mustGit(t, mergeDir, "init", "-q", "--bare", remote)
	u.mustGit(t, top, "remote", "add", "origin", remote)
	u.mustGit(t, top, "push", "-q", "-u", "origin", "main")
	if err := copyTree(mergeDir, ffDir, gitObject); err != nil {
		t.Fatal(err)
	}

	// This machine's unpushed changes (the merge template only).
	if spec.localFirst != nil {
		spec.localFirst(u, top)
	}
	u.mustAV(t, top, "local-ops-1", "set", "ops/key-1")
	u.mustAV(t, top, "local-new", "set", "bulk/local-new")
	u.mustAV(t, top, "", "revoke", "ci", "bulk")

	// The other machine's pushed changes.
	u2 := spec.other(mergeDir, u)
	m2 := filepath.Join(mergeDir, "m2")
	u2.mustGit(t, mergeDir, "clone", "-q", remote, m2)
	if spec.remoteFirst != nil {
		spec.remoteFirst(u2, m2)
	}
	u2.mustAV(t, m2, "remote-007", "set", "bulk/secret-007", "--push")
	u2.mustAV(t, m2, "", "rm", "bulk/secret-013", "--push")
	u2.mustAV(t, m2, "", "grant", "dep", "bulk", "--push")
	u2.mustAV(t, m2, "remote-new", "set", "bulk/remote-new", "--push")
	for _, d := range []string{m2, filepath.Join(mergeDir, "home2"), filepath.Join(ffDir, "remote.git")} {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := copyTree(remote, filepath.Join(ffDir, "remote.git"), gitObject); err != nil {
		t.Fatal(err)
	}
	upstream := strings.TrimSpace(u.mustGit(t, remote, "rev-parse", "refs/heads/main"))

	ff := &tmpl{dir: ffDir, state: spec.from.state, values: spec.from.values, head: spec.from.head, upstream: upstream}
	merge := &tmpl{dir: mergeDir, values: maps(spec.from.values), upstream: upstream}
	merge.values["ops/key-1"] = "local-ops-1"
	merge.values["bulk/local-new"] = "local-new"
	var err error
	if merge.state, err = readState(filepath.Join(top, ".agent-vault")); err != nil {
		t.Fatal(err)
	}
	merge.head = strings.TrimSpace(u.mustGit(t, top, "rev-parse", "HEAD"))
	for _, tm := range []*tmpl{ff, merge} {
		tu := user{home: filepath.Join(tm.dir, "home")}
		probs := k.verify(&trial{plan: plan{kind: &kind{name: "template", tmpl: tm}}, dir: tm.dir, u: tu, top: filepath.Join(tm.dir, "vault")})
		if len(probs) > 0 {
			t.Fatalf("the sync template %s does not verify: %s", tm.dir, strings.Join(probs, "; "))
		}
	}
	return []*kind{
		{name: spec.name + "-ff", args: []string{"sync"}, tmpl: ff, sync: true, change: remoteValues},
		{name: spec.name + "-merge", args: []string{"sync"}, tmpl: merge, sync: true, merge: true, change: remoteValues},
	}
}

// remoteHead is the commit of the trial's remote branch.
func (k *killer) remoteHead(tr *trial) string {
	r := tr.u.git(tr.dir, "--git-dir", filepath.Join(tr.dir, "remote.git"), "rev-parse", "refs/heads/main")
	return strings.TrimSpace(r.stdout)
}

// recoverSync recovers from a killed sync: by running sync again (the trial's "next command"), or by
// repair, followed by sync when the remote already holds the merge the killed sync pushed.
func (k *killer) recoverSync(tr *trial) {
	u, top := tr.u, tr.top
	if tr.next {
		r := u.av(top, "", "sync")
		tr.recovery = append(tr.recovery, "sync again: "+summarize(r))
		tr.repair = "next command (sync)"
		if r.code != 0 {
			tr.problem("sync again after the kill: %s", r)
		}
		return
	}
	r := u.av(top, "", "repair")
	tr.recovery = append(tr.recovery, "repair: "+summarize(r))
	tr.repair = repairOutcome(r)
	if r.code != 0 {
		tr.problem("recovery failed: %s", r)
		return
	}
	finished := strings.Contains(r.stderr, "finished a sync interrupted after its push")
	if finished {
		tr.repair += " + finished the pushed sync"
	} else if tr.phase == "pushed" {
		tr.problem("killed after its push landed, but repair did not finish the sync: %s", r)
	}
	// A push that the killed sync started runs on in the background (Git children are detached from the
	// owner command's process group, so that a Ctrl-C never cuts a ref update): once it is done, the
	// remote may hold the merge after all.
	if !waitForDir(tr.dir, 20*time.Second) {
		tr.problem("processes working in %s still run 20 s after the kill", tr.dir)
	}
	head := strings.TrimSpace(u.git(top, "rev-parse", "HEAD").stdout)
	remote := k.remoteHead(tr)
	if remote != k.tmplOf(tr.kind).upstream && tr.phase == "before-commit" {
		// The push landed after the kill (a detached Git child lived on): repair may have found it.
		tr.phase = "pushed"
	}
	if remote != k.tmplOf(tr.kind).upstream && remote != head {
		r := u.av(top, "", "sync")
		tr.recovery = append(tr.recovery, "sync: "+summarize(r))
		tr.repair += ", then sync to the pushed merge"
		if r.code != 0 || !strings.Contains(r.stdout, "Fast-forwarded") {
			tr.problem("the remote holds the killed sync's merge, but sync after repair does not fast-forward to it: %s", r)
		}
	}
}

// syncOutcome checks the Git history a recovered sync arrived at: the old state is the template's HEAD
// with the remote unchanged (the kill came before the push); the new state is the upstream's commit
// (sync-ff) or a merge commit of the template's HEAD and the upstream's, which the remote holds too
// (sync-merge). Nothing outside the vault changed.
func (k *killer) syncOutcome(tr *trial) []string {
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	tm := k.tmplOf(tr.kind)
	u, top := tr.u, tr.top
	head := strings.TrimSpace(u.git(top, "rev-parse", "HEAD").stdout)
	remote := k.remoteHead(tr)
	switch tr.outcome {
	case "old":
		if head != tm.head {
			bad("the old state, but HEAD is %s, not the template's %s", head, tm.head)
		}
		if remote != tm.upstream {
			bad("this machine is at the old state, but the remote moved to %s", remote)
		}
		if tr.phase == "after-commit" || tr.phase == "finished" || tr.phase == "pushed" || tr.next {
			bad("killed %s (recovery: %s), but recovery arrived at the old state", tr.phase, tr.repair)
		}
	case "new":
		if !tr.kind.merge {
			if head != tm.upstream {
				bad("fast-forwarded, but HEAD is %s, not the upstream's %s", head, tm.upstream)
			}
		} else {
			parents := strings.Fields(u.git(top, "log", "-1", "--format=%P", "HEAD").stdout)
			if len(parents) != 2 || parents[0] != tm.head || parents[1] != tm.upstream {
				bad("the merged state's commit has parents %v, want [%s %s]", parents, tm.head, tm.upstream)
			}
			if remote != head {
				bad("the merged state is not what the remote holds (HEAD %s, remote %s)", head, remote)
			}
		}
		if tr.phase == "before-commit" && !tr.next {
			bad("killed before the commit point, but repair arrived at the new state")
		}
	}
	r := u.git(top, "diff", "--name-only", tm.head, "HEAD")
	for _, f := range strings.Fields(r.stdout) {
		if !strings.HasPrefix(f, ".agent-vault/") {
			bad("the sync changed %s, outside the vault", f)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(top, ".git", "agent-vault", "sync-*")); len(left) > 0 {
		tr.junk = append(tr.junk, ".git/agent-vault/sync-scratch")
	}
	return probs
}

// watchRef calls kill once, the moment the branch main of the bare repository gitDir no longer points at
// commit, and returns a function that stops watching.
func watchRef(gitDir, commit string, kill func()) (stop func()) {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			ref, err := os.ReadFile(filepath.Join(gitDir, "refs", "heads", "main"))
			if err == nil && strings.TrimSpace(string(ref)) != commit {
				kill()
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	return func() { close(done) }
}

// waitForDir waits until no live process has its working directory in dir or below (the Git children of
// a killed command, whatever their process group).
func waitForDir(dir string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		busy := false
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			if pid, _ := strconv.Atoi(filepath.Base(p)); pid == os.Getpid() {
				continue
			}
			cwd, err := os.Readlink(filepath.Join(p, "cwd"))
			if err != nil || (cwd != dir && !strings.HasPrefix(cwd, dir+"/")) {
				continue
			}
			if stat, err := os.ReadFile(filepath.Join(p, "stat")); err == nil {
				if i := strings.LastIndexByte(string(stat), ')'); i >= 0 {
					if f := strings.Fields(string(stat[i+1:])); len(f) > 0 && (f[0] == "Z" || f[0] == "X") {
						continue
					}
				}
			}
			busy = true
			break
		}
		if !busy {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}
