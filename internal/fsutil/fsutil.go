// Package fsutil writes files the way agent-vault needs them on every surface: atomically (whole or
// not at all, then fsynced), private (0600 files, 0700 directories, whatever the umask), and new
// (never over an existing file); and opens files without blocking on a FIFO or a device.
package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFileAtomic writes data to path through a temporary file in the same directory, fsyncs it, renames
// it into place and fsyncs the directory. perm is applied exactly, whatever the umask.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) error {
	return WriteAtomic(path, data, perm, true)
}

// WriteAtomic writes data to path through a temporary file in the same directory and renames it into
// place, so that path holds the old bytes or the new ones, never a part. perm is applied exactly,
// whatever the umask. With sync, the file and then the directory are fsynced (WriteFileAtomic); without
// it, a crash may lose the new bytes.
func WriteAtomic(path string, data []byte, perm fs.FileMode, sync bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if sync {
		return SyncDir(dir)
	}
	return nil
}

// SyncDir fsyncs the directory dir, so that entries just renamed or linked into it survive a crash; a file system
// that cannot sync a directory (EINVAL) is not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// MkdirPrivate creates dir and its missing parents with mode 0700, whatever the umask.
func MkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// WriteNewPrivateFile creates path with mode 0600 and data, refusing to overwrite an existing file. The
// file appears whole or not at all: it is written under a temporary name and linked into place.
func WriteNewPrivateFile(path string, data []byte) error {
	if err := MkdirPrivate(filepath.Dir(path)); err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists; refusing to overwrite it", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	if err := WritePrivateFile(tmp, data); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; refusing to overwrite it", path)
		}
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// WritePrivateFile writes data to path with mode 0600 whatever the umask, and fsyncs it.
func WritePrivateFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}
