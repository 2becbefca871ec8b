package gitrepo

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// errLooseUnsupported reports a repository whose objects writeLooseObjects leaves to Git.
var errLooseUnsupported = errors.New("gitrepo: objects left to git hash-object")

// looseObjectDir returns the object directory of r when writeLooseObjects may write to it: the
// repository's .git is a directory (not a linked worktree's file) and its configuration does not ask
// for shared permissions, which Git applies to what it creates.
func (r *Repo) looseObjectDir() (string, error) {
	gitDir, ok := r.plainGitDir()
	if !ok {
		return "", errLooseUnsupported
	}
	config, err := os.ReadFile(filepath.Join(gitDir, "config"))
	if err != nil || bytes.Contains(bytes.ToLower(config), []byte("sharedrepository")) {
		return "", errLooseUnsupported
	}
	return filepath.Join(gitDir, "objects"), nil
}

// writeLooseObjects writes each of contents, an object of kind whose SHA-1 id the caller computed (ids),
// as a loose object in objects, as `git -c core.looseCompression=0 hash-object -w` does: the header and
// content deflated without compression (the objects are mostly lists of ciphertext ids, which do not
// compress), in a temporary file of the object's fan-out directory, made read-only, then linked to its
// name. An object already there is left as it is, its time refreshed so that no pruning takes it while
// a new commit refers to it.
func writeLooseObjects(objects, kind string, contents [][]byte, ids []string) error {
	for i, content := range contents {
		id := ids[i]
		if len(id) != 40 {
			return errLooseUnsupported
		}
		dir := filepath.Join(objects, id[:2])
		name := filepath.Join(dir, id[2:])
		if _, err := os.Lstat(name); err == nil {
			now := time.Now()
			os.Chtimes(name, now, now)
			continue
		}
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return err
		}
		if err := writeLooseObject(dir, name, kind, content); err != nil {
			return err
		}
	}
	return nil
}

func writeLooseObject(dir, name, kind string, content []byte) error {
	tmp, err := os.CreateTemp(dir, "tmp_obj_")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	z, err := zlib.NewWriterLevel(tmp, zlib.NoCompression)
	if err != nil {
		tmp.Close()
		return err
	}
	z.Write([]byte(kind + " " + strconv.Itoa(len(content)) + "\x00"))
	z.Write(content)
	err = z.Close()
	if err == nil {
		err = tmp.Chmod(0o444)
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), name); err != nil && !errors.Is(err, fs.ErrExist) {
		return os.Rename(tmp.Name(), name)
	}
	return nil
}
