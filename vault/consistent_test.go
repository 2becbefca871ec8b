package vault

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Snapshot-consistent reads (docs/format.md section 6.6): a vouching failure met while a writer is
// active (a signed successor in .pending/root, or Git's index.lock) is retried, and only one that
// persists on a stable state is an integrity error. A writer that never finishes is an error of kind
// error, never an integrity error.

// withWriterWait sets how long readers wait for a writer for the rest of the test.
func withWriterWait(t *testing.T, d time.Duration) {
	t.Helper()
	old := writerWait
	writerWait = d
	t.Cleanup(func() { writerWait = old })
}

// csVault is a test vault with a secret g/a that agent ci can read.
func csVault(t *testing.T) *testVault {
	t.Helper()
	tv := newTestVault(t)
	tv.set("g/a", "old value", SetOptions{})
	tv.set("h/other", "other value", SetOptions{})
	tv.grant("ci", "g")
	tv.grant("ci", "h")
	return tv
}

// stopChangeAt runs change as the owner and stops it at the named step of the transaction, as a crash
// would; the vault lock is released as the death of the process would release it.
func stopChangeAt(t *testing.T, tv *testVault, step string, change func(o *Owner) error) {
	t.Helper()
	type stopped struct{ step string }
	crashHook = func(s string) {
		if s == step {
			panic(stopped{s})
		}
	}
	defer func() { crashHook = func(string) {} }()
	o, err := tv.v.OpenOwner(tv.owner)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	defer func() {
		if r := recover(); r != nil {
			if c, ok := r.(stopped); ok && c.step == step {
				return
			}
			panic(r)
		}
		t.Fatalf("the change did not reach step %q", step)
	}()
	if err := change(o); err != nil {
		t.Fatalf("the change failed before step %q: %v", step, err)
	}
}

func csRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// applyStaged writes the staged content of rel from the interrupted change in .pending into place, as
// the writer's apply step does.
func (tv *testVault) applyStaged(rel string) {
	tv.t.Helper()
	staged, err := readStaged(tv.file(pendingDir))
	if err != nil || staged[rel] == nil {
		tv.t.Fatalf("%s is not staged (%v)", rel, err)
	}
	if err := writeInPlace(tv.file(rel), staged[rel]); err != nil {
		tv.t.Fatal(err)
	}
}

// tamper changes one byte of a vouched file, keeping its size.
func (tv *testVault) tamper(rel string) {
	tv.t.Helper()
	b := tv.read(rel)
	b[len(b)/2] ^= 0x5a
	if err := os.WriteFile(tv.file(rel), b, 0o644); err != nil {
		tv.t.Fatal(err)
	}
}

// getTimed opens the vault with key and reads path, returning how long the read took.
func getTimed(v *Vault, key *Key, path string) (string, time.Duration, error) {
	start := time.Now()
	s, err := v.Open(key)
	if err != nil {
		return "", time.Since(start), err
	}
	val, err := s.Get(path)
	return string(val), time.Since(start), err
}

// A vouched file already replaced by an owner change whose signed root sits in .pending/root: the read
// waits for the change to land, then returns the new value.
func TestSnapshotWaitsForOwnerChange(t *testing.T) {
	withWriterWait(t, 10*time.Second)
	tv := csVault(t)
	stopChangeAt(t, tv, "marked", func(o *Owner) error { return o.Set("g/a", []byte("new value"), SetOptions{}) })
	// The writer moved the new ciphertext into place; state/root is still the old one.
	tv.applyStaged(encFile("g/a"))

	s, err := tv.v.Open(tv.ci)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		time.Sleep(50 * time.Millisecond)
		_, err := tv.v.Repair(tv.owner) // the change lands
		done <- err
	}()
	start := time.Now()
	val, err := s.Get("g/a")
	elapsed := time.Since(start)
	if rerr := <-done; rerr != nil {
		t.Fatalf("repair: %v", rerr)
	}
	if err != nil {
		t.Fatalf("the read during the change failed (%s): %v", KindOf(err), err)
	}
	if string(val) != "new value" {
		t.Fatalf("read %q during the change, want the new value", val)
	}
	if elapsed < 40*time.Millisecond {
		t.Fatalf("the read returned after %v, before the change landed", elapsed)
	}
	// The snapshot has moved to the new state, and an untouched secret still reads.
	if v, err := s.Get("h/other"); err != nil || string(v) != "other value" {
		t.Fatalf("h/other after the change: %q, %v", v, err)
	}
}

// The same, for a reader that opens the vault in the middle of the change (Open's own retry), and with
// the change finishing in the writer's own process rather than by repair.
func TestSnapshotOpenDuringOwnerChange(t *testing.T) {
	withWriterWait(t, 10*time.Second)
	tv := csVault(t)
	stopChangeAt(t, tv, "half-applied", func(o *Owner) error { return o.Set("g/a", []byte("new value"), SetOptions{}) })
	if !exists(tv.v.Dir, pendingDir+"/root") {
		t.Fatal("no pending root at step half-applied")
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		unlock, err := tv.v.lock()
		if err != nil {
			panic(err)
		}
		defer unlock()
		if err := applyPending(tv.v.Dir, nil); err != nil {
			panic(err)
		}
		if err := tv.v.Record(); err != nil {
			panic(err)
		}
	}()
	val, elapsed, err := getTimed(tv.v, tv.ci, "g/a")
	if err != nil || val != "new value" {
		t.Fatalf("read during the change: %q, %s error %v", val, KindOf(err), err)
	}
	t.Logf("the read waited %v for the change", elapsed)
}

// Anyone can push a file to .pending/root; only a signed successor of the root read is a writer. A
// tampered file with any other pending root is an integrity error at once.
func TestSnapshotIgnoresImpostorPendingRoot(t *testing.T) {
	withWriterWait(t, 10*time.Second)
	tv := csVault(t)
	older := tv.read(rootFile)
	tv.set("h/more", "x", SetOptions{})
	cur := tv.read(rootFile)
	body, err := VerifyRoot(cur, ownerPub(t, tv))
	if err != nil {
		t.Fatal(err)
	}
	next, err := parseRoot(body)
	if err != nil {
		t.Fatal(err)
	}
	next.Version++
	next.PrevSHA256 = Hash(cur)
	nextBody := encodeJSON(next)
	otherKey, err := NewOwnerKeyFile()
	if err != nil {
		t.Fatal(err)
	}
	other, err := ParseKeyFile(otherKey, "other.key", quiet)
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, err := DeriveSigningKey(other.Identity)
	if err != nil {
		t.Fatal(err)
	}
	curSig := cur[strings.LastIndexByte(strings.TrimSuffix(string(cur), "\n"), '\n')+1:]

	tv.tamper(encFile("g/a"))
	for _, tc := range []struct {
		name    string
		pending []byte
	}{
		{"garbage", []byte("not a root at all\n")},
		{"a successor signed by another key", SignRoot(otherSigner, nextBody)},
		{"a successor with a copied signature", append(append([]byte{}, nextBody...), curSig...)},
		{"an older root of the owner", older},
		{"the current root itself", cur},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tv.writeFile(pendingDir+"/root", tc.pending)
			defer os.RemoveAll(tv.file(pendingDir))
			val, elapsed, err := getTimed(tv.v, tv.ci, "g/a")
			if KindOf(err) != KindIntegrity {
				t.Fatalf("read of a tampered file with %s pending: %q, %s error %v; want an integrity error", tc.name, val, KindOf(err), err)
			}
			if elapsed > 5*time.Second {
				t.Fatalf("the read waited %v for a writer that is not one", elapsed)
			}
		})
	}
	// A root that is garbage, with an impostor pending, is an integrity error at once too.
	tv.writeFile(pendingDir+"/root", SignRoot(otherSigner, nextBody))
	tv.writeFile(rootFile, append([]byte("x"), cur[1:]...))
	_, elapsed, err := getTimed(tv.v, tv.ci, "g/a")
	if KindOf(err) != KindIntegrity || elapsed > 5*time.Second {
		t.Fatalf("a forged root with an impostor pending: %s error %v after %v; want an integrity error at once", KindOf(err), err, elapsed)
	}
}

func ownerPub(t *testing.T, tv *testVault) ed25519.PublicKey {
	t.Helper()
	signer, err := DeriveSigningKey(tv.owner.Identity)
	if err != nil {
		t.Fatal(err)
	}
	return signer.Public().(ed25519.PublicKey)
}

// gitCheckout prepares a Git checkout from the vault's state before change to the state after it, cut in
// the middle: the files change wrote are new, but state/ (root and shards) is still the old one, and Git
// holds its index lock. It returns a function that finishes the checkout. The reader uses a fresh home,
// as on another machine that pulls (the owner's home has seen the new version).
func gitCheckout(t *testing.T, tv *testVault, change func()) (finish func()) {
	t.Helper()
	gitDir := filepath.Join(tv.v.Top, ".git")
	if err := os.MkdirAll(gitDir, 0o755); err != nil {
		t.Fatal(err)
	}
	oldState := filepath.Join(t.TempDir(), "state")
	copyDir(t, tv.file("state"), oldState)
	change()
	newState := filepath.Join(t.TempDir(), "state")
	copyDir(t, tv.file("state"), newState)
	if err := os.RemoveAll(tv.file("state")); err != nil {
		t.Fatal(err)
	}
	copyDir(t, oldState, tv.file("state"))
	if err := os.WriteFile(filepath.Join(gitDir, "index.lock"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AGENT_VAULT_HOME", t.TempDir())
	return func() {
		copyDir(t, newState, tv.file("state"))
		os.Remove(filepath.Join(gitDir, "index.lock"))
	}
}

// A Git checkout under way (index.lock present) while a file no longer matches the root: the read waits
// for Git, then reads the new state.
func TestSnapshotWaitsForGit(t *testing.T) {
	withWriterWait(t, 10*time.Second)
	tv := csVault(t)
	finish := gitCheckout(t, tv, func() { tv.set("g/a", "new value", SetOptions{}) })
	go func() {
		time.Sleep(50 * time.Millisecond)
		finish()
	}()
	val, elapsed, err := getTimed(tv.v, tv.ci, "g/a")
	if err != nil || val != "new value" {
		t.Fatalf("read during the checkout: %q, %s error %v", val, KindOf(err), err)
	}
	if elapsed < 40*time.Millisecond {
		t.Fatalf("the read returned after %v, before the checkout finished", elapsed)
	}
}

// Git rewrites a file in place: a reader can meet state/root half written. With Git's lock present the
// read waits. The lock is looked for in the directory a .git file names (a worktree or submodule).
func TestSnapshotWaitsForGitHalfWrittenRoot(t *testing.T) {
	withWriterWait(t, 10*time.Second)
	tv := csVault(t)
	finish := gitCheckout(t, tv, func() { tv.set("g/a", "new value", SetOptions{}) })
	realGit := filepath.Join(tv.v.Top, "modules", "vault.git")
	if err := os.MkdirAll(filepath.Dir(realGit), 0o755); err != nil {
		t.Fatal(err)
	}
	csRename(t, filepath.Join(tv.v.Top, ".git"), realGit)
	if err := os.WriteFile(filepath.Join(tv.v.Top, ".git"), []byte("gitdir: modules/vault.git\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := tv.read(rootFile)
	tv.writeFile(rootFile, root[:len(root)/2])
	go func() {
		time.Sleep(50 * time.Millisecond)
		finish()
		os.Remove(filepath.Join(realGit, "index.lock"))
	}()
	val, elapsed, err := getTimed(tv.v, tv.ci, "g/a")
	if err != nil || val != "new value" {
		t.Fatalf("read during the checkout: %q, %s error %v", val, KindOf(err), err)
	}
	if elapsed < 40*time.Millisecond {
		t.Fatalf("the read returned after %v, before the checkout finished", elapsed)
	}
}

// A writer that never finishes: after writerWait the read stops with an error of kind error that names
// it, never an integrity error.
func TestSnapshotStaleWriterIsNotIntegrity(t *testing.T) {
	t.Run("owner change", func(t *testing.T) {
		withWriterWait(t, 200*time.Millisecond)
		tv := csVault(t)
		stopChangeAt(t, tv, "marked", func(o *Owner) error { return o.Set("g/a", []byte("new value"), SetOptions{}) })
		tv.applyStaged(encFile("g/a"))
		_, elapsed, err := getTimed(tv.v, tv.ci, "g/a")
		if KindOf(err) != KindError || !strings.Contains(err.Error(), "repair") {
			t.Fatalf("read with an interrupted change: %s error %v; want kind error naming repair", KindOf(err), err)
		}
		if elapsed < 200*time.Millisecond || elapsed > 5*time.Second {
			t.Fatalf("the read gave up after %v; writerWait is 200ms", elapsed)
		}
		// Repair makes it readable.
		if _, err := tv.v.Repair(tv.owner); err != nil {
			t.Fatal(err)
		}
		tv.mustGet(tv.ci, "g/a", "new value")
	})
	t.Run("Git lock", func(t *testing.T) {
		withWriterWait(t, 200*time.Millisecond)
		tv := csVault(t)
		gitCheckout(t, tv, func() { tv.set("g/a", "new value", SetOptions{}) }) // never finished
		_, elapsed, err := getTimed(tv.v, tv.ci, "g/a")
		if KindOf(err) != KindError || !strings.Contains(err.Error(), "index.lock") {
			t.Fatalf("read with Git's lock held: %s error %v; want kind error naming index.lock", KindOf(err), err)
		}
		if elapsed < 200*time.Millisecond || elapsed > 5*time.Second {
			t.Fatalf("the read gave up after %v; writerWait is 200ms", elapsed)
		}
	})
	t.Run("Git lock, root half written", func(t *testing.T) {
		withWriterWait(t, 200*time.Millisecond)
		tv := csVault(t)
		gitCheckout(t, tv, func() { tv.set("g/a", "new value", SetOptions{}) })
		root := tv.read(rootFile)
		tv.writeFile(rootFile, root[:len(root)/3])
		s, err := tv.v.Open(tv.ci)
		if s != nil || KindOf(err) != KindError || !strings.Contains(err.Error(), "index.lock") {
			t.Fatalf("open with Git's lock held and a half-written root: %s error %v; want kind error naming index.lock", KindOf(err), err)
		}
	})
}

// A root that changes on every attempt (a writer that keeps committing) ends the read with an error of
// kind error after the last attempt, never an integrity error.
func TestSnapshotRootKeepsChanging(t *testing.T) {
	withWriterWait(t, 2*time.Second)
	tv := csVault(t)
	tv.tamper(encFile("g/a")) // a failure that no new root cures
	cur := tv.read(rootFile)
	signer, err := DeriveSigningKey(tv.owner.Identity)
	if err != nil {
		t.Fatal(err)
	}
	body, err := VerifyRoot(cur, ownerPub(t, tv))
	if err != nil {
		t.Fatal(err)
	}
	root, err := parseRoot(body)
	if err != nil {
		t.Fatal(err)
	}
	// A chain of signed successors that vouch for the same files: each one a change of the owner.
	chain := [][]byte{cur}
	for i := 1; i <= 40; i++ {
		r := cloneRoot(root)
		r.Version = root.Version + uint64(i)
		r.PrevSHA256 = Hash(chain[i-1])
		chain = append(chain, SignRoot(signer, encodeJSON(r)))
	}
	// The owner keeps changing the vault: every 60 ms the pending successor lands and the next one is
	// staged, so that the reader always sees a writer at work.
	if err := os.MkdirAll(tv.file(pendingDir), 0o755); err != nil {
		t.Fatal(err)
	}
	// Each step happens while Git's index lock is held, so that no reader meets the instant between
	// the two replacements as a stable state.
	gitLock := filepath.Join(tv.v.Top, ".git", "index.lock")
	if err := os.MkdirAll(filepath.Dir(gitLock), 0o755); err != nil {
		t.Fatal(err)
	}
	replace := func(rel string, data []byte) {
		tmp := tv.file(rel) + ".new"
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			panic(err)
		}
		if err := os.Rename(tmp, tv.file(rel)); err != nil {
			panic(err)
		}
	}
	replace(pendingDir+"/root", chain[1])
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 1; i+1 < len(chain); i++ {
			select {
			case <-stop:
				return
			case <-time.After(60 * time.Millisecond):
			}
			if err := os.WriteFile(gitLock, nil, 0o644); err != nil {
				panic(err)
			}
			replace(rootFile, chain[i])
			replace(pendingDir+"/root", chain[i+1])
			os.Remove(gitLock)
		}
	}()
	_, elapsed, err := getTimed(tv.v, tv.ci, "g/a")
	close(stop)
	<-stopped
	if KindOf(err) != KindError || !strings.Contains(err.Error(), "kept changing") {
		t.Fatalf("read while the root keeps changing: %s error %v after %v; want kind error \"kept changing\"", KindOf(err), err, elapsed)
	}
}

// Rollback and the other checks do not depend on the order of file replacements: they are decided at
// once, even while a writer seems to be at work.
func TestSnapshotRollbackIsDecidedAtOnce(t *testing.T) {
	withWriterWait(t, 10*time.Second)
	tv := csVault(t)
	saved := filepath.Join(t.TempDir(), "vault")
	copyDir(t, tv.v.Dir, saved)
	tv.set("g/a", "new value", SetOptions{})
	tv.mustGet(tv.ci, "g/a", "new value") // the reader's mark rises
	newRoot := tv.read(rootFile)
	copyDir(t, saved, tv.v.Dir)                     // the whole old state comes back
	tv.writeFile(pendingDir+"/root", newRoot)       // with a signed successor of it pending
	_, elapsed, err := getTimed(tv.v, tv.ci, "g/a") // no vouching failure: the old state is whole
	if KindOf(err) != KindIntegrity || !strings.Contains(err.Error(), "rollback") {
		t.Fatalf("read of a rolled-back vault: %s error %v; want a rollback", KindOf(err), err)
	}
	if elapsed > 5*time.Second {
		t.Fatalf("the rollback was reported after %v", elapsed)
	}
}

// A reader's high-water mark may rise while it reads: another reader on the machine, or the owner, met
// the next version between this reader's reading of state/root and of the mark. The vault did not roll
// back; it moved on. The read must start over from the new root (as for a vouching failure), not report
// a rollback. The reader here is the owner's key, which records the vault's directory between the two
// reads (vault_paths): a named pipe there holds the reader at that instant.
func TestSnapshotMarkRaisedDuringReadIsNotRollback(t *testing.T) {
	withWriterWait(t, 10*time.Second)
	tv := csVault(t)
	s0, err := tv.v.Open(tv.owner)
	if err != nil {
		t.Fatal(err)
	}
	vaultID, newVersion := s0.Root.VaultID, s0.Root.Version+1
	before := filepath.Join(t.TempDir(), "before")
	copyDir(t, tv.v.Dir, before)
	tv.set("g/a", "new value", SetOptions{})
	after := filepath.Join(t.TempDir(), "after")
	copyDir(t, tv.v.Dir, after)
	newRoot := tv.read(rootFile)
	copyDir(t, before, tv.v.Dir) // the reader's machine has the old state

	home := t.TempDir()
	t.Setenv("AGENT_VAULT_HOME", home)
	pathsFile := filepath.Join(home, "vault_paths")
	if err := syscall.Mkfifo(pathsFile, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	type outcome struct {
		s   *Snapshot
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		s, err := tv.v.Open(tv.owner)
		done <- outcome{s, err}
	}()
	// The reader has read and verified the old root and now waits in vault_paths. Meanwhile the vault
	// moves to the next version and another reader on this machine raises the mark.
	pipe, err := os.OpenFile(pathsFile, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(vaultID + " " + tv.v.Dir + "\n")
	if err := os.WriteFile(pathsFile+".new", line, 0o600); err != nil {
		t.Fatal(err)
	}
	csRename(t, pathsFile+".new", pathsFile) // later reads find a plain file
	copyDir(t, after, tv.v.Dir)
	if err := raiseMarks(home, vaultID, newVersion, Hash(newRoot), "", nil); err != nil {
		t.Fatal(err)
	}
	pipe.Write(line)
	pipe.Close()

	var res outcome
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader never finished")
	}
	if res.err != nil {
		t.Fatalf("a read during which the mark rose to the vault's next version: %s error %v; want the new state", KindOf(res.err), res.err)
	}
	if res.s.Root.Version != newVersion {
		t.Fatalf("the read ended at version %d, want %d", res.s.Root.Version, newVersion)
	}
	if v, err := res.s.Get("g/a"); err != nil || string(v) != "new value" {
		t.Fatalf("get after the read: %q, %v", v, err)
	}
}

// stopInitAt creates a vault in a fresh directory with owner and stops Init at the named step of its
// transaction, as a kill would.
func stopInitAt(t *testing.T, owner *Key, step string) *Vault {
	t.Helper()
	v := New(t.TempDir())
	type stopped struct{}
	crashHook = func(s string) {
		if s == step {
			panic(stopped{})
		}
	}
	defer func() { crashHook = func(string) {} }()
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(stopped); !ok {
					panic(r)
				}
				return
			}
			t.Fatalf("Init did not reach step %q", step)
		}()
		if err := v.Init(owner); err != nil {
			t.Fatalf("Init failed before step %q: %v", step, err)
		}
	}()
	return v
}

// A vault being created: config.yaml is in place but state/root not yet, and .pending/root is the signed
// first root. A read waits for the creation to finish.
func TestSnapshotWaitsForVaultBeingCreated(t *testing.T) {
	withWriterWait(t, 10*time.Second)
	tv := newTestVault(t) // a home and an owner key
	v := stopInitAt(t, tv.owner, "half-applied")
	if !exists(v.Dir, configFile) || exists(v.Dir, rootFile) {
		t.Fatal("at half-applied, Init should have config.yaml in place and no state/root")
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		unlock, err := v.lock()
		if err != nil {
			panic(err)
		}
		defer unlock()
		if err := applyPending(v.Dir, nil); err != nil {
			panic(err)
		}
		if err := v.Record(); err != nil {
			panic(err)
		}
	}()
	s, err := v.Open(tv.owner)
	if err != nil {
		t.Fatalf("a read while the vault is being created: %s error %v; want the new vault", KindOf(err), err)
	}
	if s.Root.Version != 1 {
		t.Fatalf("read version %d of the new vault", s.Root.Version)
	}
}

// Init is an owner change like any other (docs/format.md section 9.1): killed after its commit point
// (.pending/root, the first root, whose prev_sha256 is ""), repair finishes it, whether or not state/root
// is in place yet.
func TestRepairFinishesInterruptedInit(t *testing.T) {
	tv := newTestVault(t)
	for _, step := range []string{"marked", "half-applied", "applied", "rooted", "recorded"} {
		t.Run(step, func(t *testing.T) {
			v := stopInitAt(t, tv.owner, step)
			did, err := v.Repair(tv.owner)
			if err != nil {
				t.Fatalf("repair of an init killed at %s: %s error %v", step, KindOf(err), err)
			}
			s, err := v.Open(tv.owner)
			if err != nil || s.Root.Version != 1 {
				t.Fatalf("after repair (%s): %v", did, err)
			}
			if exists(v.Dir, pendingDir) {
				t.Fatal("repair left .pending")
			}
		})
	}
}

// Killed before its commit point, Init left a directory that holds no vault: running init again (after
// repair, or directly) creates the vault, with no file to remove by hand.
func TestInitAgainAfterInterruptedInit(t *testing.T) {
	tv := newTestVault(t)
	v := stopInitAt(t, tv.owner, "staged")
	errDirect := New(v.Top).Init(tv.owner)
	if errDirect == nil {
		return
	}
	_, errRepair := v.Repair(tv.owner)
	if err := New(v.Top).Init(tv.owner); err != nil {
		t.Fatalf("init killed before its commit point: init again fails (%v); after repair (which said: %v), init fails again (%v)", errDirect, errRepair, err)
	}
}
