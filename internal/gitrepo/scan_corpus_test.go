package gitrepo

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agent-vault/agent-vault/internal/fsutil"
	"github.com/agent-vault/agent-vault/vault"
)

// corpusBudget bounds how much of the Go module cache TestScanCorpus reads.
const corpusBudget = 150 << 20

// TestScanCorpus shows that the patterns added for encoded and re-cased age keys (issue 10 item 6)
// flag no file of a vault (every kind of file one holds) and no file of a large sample of real text: the
// Go module cache (source, documentation, test data of hundreds of modules). A file that holds a real
// age identity (the age module's own test keys) is not a false positive; it is reported by the
// original pattern too, and is counted apart.
func TestScanCorpus(t *testing.T) {
	// A vault with an agent, secrets and escrow: none of its files may be flagged.
	home := t.TempDir()
	t.Setenv("AGENT_VAULT_HOME", home)
	t.Setenv("AGENT_VAULT_KEY", "")
	ownerFile, err := vault.NewOwnerKeyFile()
	if err != nil {
		t.Fatal(err)
	}
	if err := fsutil.WriteNewPrivateFile(filepath.Join(home, "owner.key"), ownerFile); err != nil {
		t.Fatal(err)
	}
	owner, err := vault.ResolveKey("", &vault.KeyOptions{Warn: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Init(t.TempDir(), owner)
	if err != nil {
		t.Fatal(err)
	}
	o, err := v.OpenOwner(owner)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.AddAgent("ci", filepath.Join(home, "agents", "ci.key")); err != nil {
		t.Fatal(err)
	}
	for i, p := range []string{"stripe/api-key", "db/url", "k8s/secret-manifest"} {
		if err := o.Set(p, []byte(strings.Repeat("value-", i+1)+"0123456789"), vault.SetOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	o.Close()
	files := 0
	filepath.WalkDir(v.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files++
		if kind, found := ScanPrivateKey(data); found {
			t.Errorf("vault file %s is flagged as %s", path, kind)
		}
		return nil
	})
	if files < 10 {
		t.Fatalf("only %d vault files scanned", files)
	}

	// go/build read GOPATH when the test started, before this package's TestMain moved HOME.
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		cache = filepath.Join(filepath.SplitList(build.Default.GOPATH)[0], "pkg", "mod")
	}
	var read, scanned, realKeys int
	errStop := fs.SkipAll
	filepath.WalkDir(cache, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			if d.Name() == "cache" && filepath.Dir(path) == cache {
				return fs.SkipDir // downloaded zips: compressed, not text
			}
			return nil
		}
		if read > corpusBudget {
			return errStop
		}
		fi, err := d.Info()
		if err != nil || !fi.Mode().IsRegular() || fi.Size() > 4<<20 {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		read += len(data)
		scanned++
		kind, found := ScanPrivateKey(data)
		if !found {
			return nil
		}
		if kind == "age secret key" || !strings.Contains(kind, "age secret key") {
			realKeys++ // the original patterns: real keys in test data, not what this test measures
			return nil
		}
		t.Errorf("%s is flagged as %s", path, kind)
		return nil
	})
	if scanned < 2000 || read < 20<<20 {
		t.Fatalf("the module cache sample is too small: %d files, %d bytes", scanned, read)
	}
	t.Logf("scanned %d vault files and %d files (%d MB) of the module cache; %d hold key material the original patterns report", files, scanned, read>>20, realKeys)
}
