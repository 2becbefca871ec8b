package vault

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Size limits for files read from a repository (docs/format.md section 6.5). Every other file is read at
// exactly the size that vouches for it.
const (
	// LimitOther bounds the files no size vouches for: agents' public keys and escrows, and config.yaml
	// before it is trusted.
	LimitOther = 64 << 10
	// MaxValueSize is the largest secret value.
	MaxValueSize = 1 << 20
)

// errTooBig marks a file over its size limit.
var errTooBig = errors.New("file too large")

// readRepoFile reads dir/rel, where rel is a slash-separated path below the vault directory, refusing
// symbolic links on the way and files larger than limit. A missing file returns an error matching
// fs.ErrNotExist.
func readRepoFile(dir, rel string, limit int64) ([]byte, error) {
	p := dir
	parts := strings.Split(rel, "/")
	for i, part := range parts {
		p = filepath.Join(p, part)
		if i == len(parts)-1 {
			break
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, newErr(KindIntegrity, "%s: %s is not a directory", rel, filepath.ToSlash(strings.Join(parts[:i+1], "/")))
		}
	}
	// Raw system calls: a vault file is small and regular, and os.File's poller registration costs more
	// than the read when a change reads thousands of them. O_NONBLOCK keeps a planted FIFO from blocking.
	fd, err := openRetry(p, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, newErr(KindIntegrity, "%s is a symbolic link, which a vault never contains", rel)
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: p, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, newErr(KindIntegrity, "%s is not a regular file", rel)
	}
	if st.Size > limit {
		return nil, wrapErr(KindIntegrity, errTooBig, "%s is %d bytes, over the %d-byte limit for such a file", rel, st.Size, limit)
	}
	// One byte more than the size, to see a file that grew while it was read.
	data := make([]byte, st.Size+1)
	n := 0
	for n < len(data) {
		k, err := syscall.Read(fd, data[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: p, Err: err}
		}
		if k == 0 {
			break
		}
		n += k
	}
	if int64(n) > limit {
		return nil, wrapErr(KindIntegrity, errTooBig, "%s grew over the %d-byte limit while being read", rel, limit)
	}
	return data[:n:n], nil
}

// openRetry is syscall.Open, retried when a signal interrupts it.
func openRetry(path string, flags int, perm uint32) (int, error) {
	for {
		fd, err := syscall.Open(path, flags, perm)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// readVouched reads a file that the signed state vouches for with ref and checks its size and hash. A
// missing file or a mismatch is a vouching failure: an integrity error that a reader retries on a fresh
// snapshot before it reports it (docs/format.md section 6.6).
func readVouched(dir, rel string, ref FileRef) ([]byte, error) {
	data, err := readRepoFile(dir, rel, ref.Size)
	if errors.Is(err, errTooBig) || err == nil && int64(len(data)) != ref.Size {
		return nil, vouchErr("%s does not match the signed state (size mismatch)", rel)
	}
	return checkVouched(data, err, rel, ref.SHA256)
}

// readVouchedHash reads a file that the signed state vouches for by hash alone (agents' key files), at
// most limit bytes.
func readVouchedHash(dir, rel string, limit int64, wantHash string) ([]byte, error) {
	data, err := readRepoFile(dir, rel, limit)
	return checkVouched(data, err, rel, wantHash)
}

func checkVouched(data []byte, err error, rel, wantHash string) ([]byte, error) {
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, vouchErr("%s is in the signed state but missing", rel)
		}
		if KindOf(err) == KindIntegrity {
			return nil, err
		}
		return nil, wrapErr(KindError, err, "cannot read %s", rel)
	}
	if Hash(data) != wantHash {
		return nil, vouchErr("%s does not match the signed state (hash mismatch)", rel)
	}
	return data, nil
}

// exists reports whether dir/rel exists, following no links.
func exists(dir, rel string) bool {
	_, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(rel)))
	return err == nil
}

func errNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
