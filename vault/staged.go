package vault

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"syscall"
)

// The staged files of a transaction (docs/format.md section 9, step 1): every new or changed file of the
// change, in one file, .pending/data. Each record is a header line "<size> <relative path>\n", the
// content (size bytes), and "\n".

const stagedData = "data"

// legacyStagedDir is where writers before this version staged one file per file of the change; a
// transaction they left is still finished.
const legacyStagedDir = "files"

// writeStaged writes the records of rels (each with its content in files) to name, and calls each after
// every record.
func writeStaged(name string, rels []string, files map[string][]byte, each func()) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 256<<10)
	for _, rel := range rels {
		fmt.Fprintf(w, "%d %s\n", len(files[rel]), rel)
		w.Write(files[rel])
		w.WriteByte('\n')
		each()
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// readStaged returns the staged files of the transaction in pend, by relative path. Records whose path
// is not a clean relative path are refused.
func readStaged(pend string) (map[string][]byte, error) {
	data, err := os.ReadFile(filepath.Join(pend, stagedData))
	if errors.Is(err, fs.ErrNotExist) {
		return readLegacyStaged(filepath.Join(pend, legacyStagedDir))
	}
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for len(data) > 0 {
		line, rest, ok := bytes.Cut(data, []byte("\n"))
		if !ok {
			return nil, errors.New("truncated staged data")
		}
		sizeText, rel, ok := bytes.Cut(line, []byte(" "))
		size, err := strconv.Atoi(string(sizeText))
		if !ok || err != nil || size < 0 || size >= len(rest) || rest[size] != '\n' {
			return nil, errors.New("malformed staged data")
		}
		name := string(rel)
		if !filepath.IsLocal(name) || path.Clean(name) != name {
			return nil, fmt.Errorf("staged data names a path outside the vault: %q", name)
		}
		out[name] = rest[:size:size]
		data = rest[size+1:]
	}
	return out, nil
}

// readLegacyStaged reads a transaction staged one file per file under dir (absent: nothing staged).
func readLegacyStaged(dir string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) && p == dir {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = data
		return err
	})
	return out, err
}

// writeInPlace makes the file at p hold data. An existing regular file with one link is rewritten in
// place: no inode is created or freed, which on file systems that delay the reuse of freed inodes keeps
// a change of thousands of files from slowing down the next one. A missing file is created, and a file
// with other links is unlinked and created again, so that the other names keep their content. A torn
// or missing file is possible only after the commit point, where repair writes it again from the staged
// data, and readers never accept it (its hash is vouched for). No temporary file is left among the
// vault's files. A symbolic link or a special file is refused.
func writeInPlace(p string, data []byte) error {
	const flags = syscall.O_WRONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK | syscall.O_CLOEXEC
	fd, err := openRetry(p, flags, 0)
	if err == nil {
		var st syscall.Stat_t
		if err = syscall.Fstat(fd, &st); err != nil {
			syscall.Close(fd)
			return &fs.PathError{Op: "stat", Path: p, Err: err}
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
			syscall.Close(fd)
			return newErr(KindIntegrity, "refusing to write %s: it is not a regular file", p)
		}
		if st.Nlink != 1 {
			syscall.Close(fd)
			if err := syscall.Unlink(p); err != nil {
				return &fs.PathError{Op: "unlink", Path: p, Err: err}
			}
			err = syscall.ENOENT
		}
	}
	if errors.Is(err, syscall.ENOENT) {
		fd, err = openRetry(p, flags|syscall.O_CREAT|syscall.O_EXCL, 0o644)
	}
	if errors.Is(err, syscall.ELOOP) {
		return newErr(KindIntegrity, "refusing to write %s: it is a symbolic link", p)
	}
	if err != nil {
		return &fs.PathError{Op: "open", Path: p, Err: err}
	}
	err = pwriteAll(fd, data)
	if err == nil {
		err = syscall.Ftruncate(fd, int64(len(data)))
	}
	if cerr := syscall.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return &fs.PathError{Op: "write", Path: p, Err: err}
	}
	return nil
}

func pwriteAll(fd int, data []byte) error {
	for off := 0; off < len(data); {
		n, err := syscall.Pwrite(fd, data[off:], int64(off))
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		off += n
	}
	return nil
}
