package gitrepo

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// The index entries of the files a commit recorded are written here rather than by `git update-index`
// when the index has the form Git gives it by default: version 2 or 3, SHA-1, no extension but the cache
// tree. At 10,000 secrets the index is 2 MB, and Git's rewrite of it (read, SHA-1 with collision
// detection, write) cost more than the rest of a one-secret change's Git work; here it is one read, one
// merge of the sorted entries and one write. The result is what `git update-index --add --remove` would
// write for the same files (TestIndexMatchesGit holds it to that, byte for byte). Any other form of index
// (version 4, a split or sparse index, the untracked cache, fsmonitor data, resolve-undo records,
// conflicted or flagged entries for the files, a file where a directory is, a symbolic link) is left to
// Git.

// errIndexUnsupported reports an index or a change that writeIndex leaves to `git update-index`. Nothing
// has been written when it is returned.
var errIndexUnsupported = errors.New("gitrepo: index form left to git update-index")

// indexFile is one file of a commit, as the index must record it: the blob the commit holds and the
// status of the work-tree file read for it. A nil stat removes the entry.
type indexFile struct {
	path string
	mode uint32
	oid  []byte
	stat *fileStat
}

const (
	indexHeaderLen   = 12
	indexEntryFixed  = 62 // stat data, object id and flags of a version 2 entry (SHA-1)
	indexFlagValid   = 0x8000
	indexFlagExtend  = 0x4000
	indexFlagStage   = 0x3000
	indexNameMask    = 0x0fff
	indexTrailerSize = sha1.Size
)

// writeIndex updates the entries of files in the index of the repository whose Git directory is gitDir,
// under the index's lock, as `git update-index --add --remove` does. files are sorted by path.
func writeIndex(gitDir string, files []indexFile) (err error) {
	indexPath := filepath.Join(gitDir, "index")
	lockPath := indexPath + ".lock"
	lock, err := os.OpenFile(lockPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return errIndexUnsupported // Git reports the lock in its own words
		}
		return err
	}
	defer func() {
		if lock != nil {
			lock.Close()
			os.Remove(lockPath)
		}
	}()
	// The index is read under the lock; its time decides which entries are racily clean. It is read
	// into the heap, which an owner change's memory limit governs, rather than mapped beside it.
	info, err := os.Stat(indexPath)
	if errors.Is(err, fs.ErrNotExist) {
		return errIndexUnsupported // Git writes a new index
	} else if err != nil {
		return err
	}
	data, err := os.ReadFile(indexPath)
	if err != nil {
		return err
	}
	idx, err := parseIndex(data)
	if err != nil {
		return err
	}
	plan, err := idx.plan(files)
	if err != nil {
		return err
	}
	if err := lock.Chmod(info.Mode().Perm()); err != nil {
		return err
	}
	w := bufio.NewWriterSize(lock, 64<<10)
	if err := idx.write(w, plan, info.ModTime().Unix(), filepath.Dir(gitDir)); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	err = lock.Close()
	lock = nil
	if err == nil {
		err = os.Rename(lockPath, indexPath)
	}
	if err != nil {
		os.Remove(lockPath)
	}
	return err
}

// index is a parsed index file: its entries, located in body, and its cache tree.
type index struct {
	header  []byte
	body    []byte
	entries []indexEntry
	tree    *cacheTree
}

// parseIndex reads an index of version 2 or 3 whose only extension is the cache tree.
func parseIndex(data []byte) (*index, error) {
	if len(data) < indexHeaderLen+indexTrailerSize || string(data[:4]) != "DIRC" {
		return nil, errIndexUnsupported
	}
	// Like Git, the checksum is not verified on reading (Git replaces the index by renaming, so it is
	// never torn); the entries and extensions must fill the body exactly.
	idx := &index{header: data[:indexHeaderLen], body: data[:len(data)-indexTrailerSize]}
	body := idx.body
	version := binary.BigEndian.Uint32(data[4:8])
	if version != 2 && version != 3 {
		return nil, errIndexUnsupported
	}
	count := int(binary.BigEndian.Uint32(data[8:12]))
	if count > len(body)/indexEntryFixed {
		return nil, errIndexUnsupported
	}
	idx.entries = make([]indexEntry, 0, count)
	off := indexHeaderLen
	for range count {
		e, ok := parseIndexEntry(body, off)
		if !ok {
			return nil, errIndexUnsupported
		}
		idx.entries = append(idx.entries, e)
		off = int(e.end)
	}
	for off < len(body) {
		if len(body)-off < 8 {
			return nil, errIndexUnsupported
		}
		sig, size := string(body[off:off+4]), int(binary.BigEndian.Uint32(body[off+4:off+8]))
		if size > len(body)-off-8 || sig != "TREE" || idx.tree != nil {
			return nil, errIndexUnsupported
		}
		t, rest, ok := parseCacheTree(body[off+8 : off+8+size])
		if !ok || len(rest) != 0 {
			return nil, errIndexUnsupported
		}
		idx.tree = t
		off += 8 + size
	}
	return idx, nil
}

func (idx *index) name(i int) string { return idx.entries[i].name(idx.body) }

// find returns the position of the first entry whose name is name or sorts after it.
func (idx *index) find(name string) int {
	return sort.Search(len(idx.entries), func(i int) bool { return idx.name(i) >= name })
}

// indexPlan is what writing files does to an index: for each file, the entry it writes (nil for none),
// whether it replaces or removes the entry of its name (at) or leaves the index's entry as it is.
type indexPlan struct {
	files   []indexFile
	write   []bool // the file's entry is written (it is new or changed)
	at      []int  // the entry of the file's name, or -1
	drop    []bool // the entry at is replaced or removed
	changed []string
	count   int
}

// plan decides what each of files does to the index, or returns errIndexUnsupported for a change that
// is left to Git.
func (idx *index) plan(files []indexFile) (*indexPlan, error) {
	p := &indexPlan{files: files, write: make([]bool, len(files)), at: make([]int, len(files)),
		drop: make([]bool, len(files)), count: len(idx.entries)}
	for k, f := range files {
		p.at[k] = -1
		i := idx.find(f.path)
		if i < len(idx.entries) && idx.name(i) == f.path {
			if idx.entries[i].flags(idx.body)&(indexFlagValid|indexFlagExtend|indexFlagStage) != 0 ||
				(i+1 < len(idx.entries) && idx.name(i+1) == f.path) {
				return nil, errIndexUnsupported // assume-valid, skip-worktree, intent-to-add, conflicted
			}
			p.at[k] = i
		} else if f.stat != nil {
			// A new file where the index has a file for one of its directories, or a directory of its name.
			if j := idx.find(f.path + "/"); j < len(idx.entries) && strings.HasPrefix(idx.name(j), f.path+"/") {
				return nil, errIndexUnsupported
			}
			for d := f.path; strings.Contains(d, "/"); {
				d = d[:strings.LastIndexByte(d, '/')]
				if j := idx.find(d); j < len(idx.entries) && idx.name(j) == d {
					return nil, errIndexUnsupported
				}
			}
		}
		if f.stat == nil {
			p.changed = append(p.changed, f.path) // Git invalidates a removed path even when it had no entry
			if p.at[k] >= 0 {
				p.drop[k] = true
				p.count--
			}
			continue
		}
		entry := encodeIndexEntry(f)
		if at := p.at[k]; at >= 0 && bytes.Equal(entry, idx.body[idx.entries[at].off:idx.entries[at].end]) {
			continue // up to date: Git leaves the entry, and its directories' trees, alone
		}
		p.write[k] = true
		p.changed = append(p.changed, f.path)
		if p.at[k] >= 0 {
			p.drop[k] = true
		} else {
			p.count++
		}
	}
	return p, nil
}

// write writes the index with plan applied to w, its checksum last. indexSec is the index file's
// modification time in seconds, and top the work tree, both for the entries that are racily clean (see
// smudgeRacy).
func (idx *index) write(w io.Writer, p *indexPlan, indexSec int64, top string) error {
	h := sha1.New()
	out := io.MultiWriter(w, h)
	header := bytes.Clone(idx.header)
	binary.BigEndian.PutUint32(header[8:12], uint32(p.count))
	out.Write(header)
	dropped := make([]bool, len(idx.entries))
	for k := range p.files {
		if p.drop[k] {
			dropped[p.at[k]] = true
		}
	}
	k := 0
	for i := 0; i <= len(idx.entries); i++ {
		name := ""
		if i < len(idx.entries) {
			name = idx.name(i)
		}
		for ; k < len(p.files) && (i == len(idx.entries) || p.files[k].path <= name); k++ {
			if p.write[k] {
				out.Write(encodeIndexEntry(p.files[k]))
			}
		}
		if i == len(idx.entries) {
			break
		}
		if dropped[i] {
			continue
		}
		e := idx.entries[i]
		raw := idx.body[e.off:e.end]
		if racy(raw, indexSec) {
			raw = smudgeRacy(raw, name, top)
		}
		if _, err := out.Write(raw); err != nil {
			return err
		}
	}
	if idx.tree != nil {
		for _, path := range p.changed {
			idx.tree.invalidate(path)
		}
		ext := idx.tree.encode(nil)
		var hdr [8]byte
		copy(hdr[:4], "TREE")
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(ext)))
		out.Write(hdr[:])
		out.Write(ext)
	}
	_, err := w.Write(h.Sum(nil))
	return err
}

// indexEntry locates one entry in the index data: from off to end, padding included, with its name
// from off+nameOff.
type indexEntry struct {
	off, end         int32
	nameOff, nameLen int32
}

func (e indexEntry) name(body []byte) string {
	return string(body[e.off+e.nameOff : e.off+e.nameOff+e.nameLen])
}

func (e indexEntry) flags(body []byte) uint16 {
	return binary.BigEndian.Uint16(body[e.off+60 : e.off+62])
}

// parseIndexEntry reads the version 2 or 3 entry at off.
func parseIndexEntry(body []byte, off int) (indexEntry, bool) {
	if len(body)-off < indexEntryFixed {
		return indexEntry{}, false
	}
	flags := binary.BigEndian.Uint16(body[off+60 : off+62])
	nameOff := indexEntryFixed
	if flags&indexFlagExtend != 0 {
		nameOff += 2
	}
	if len(body)-off < nameOff {
		return indexEntry{}, false
	}
	n := bytes.IndexByte(body[off+nameOff:], 0)
	if n < 0 || (int(flags&indexNameMask) != indexNameMask && n != int(flags&indexNameMask)) {
		return indexEntry{}, false
	}
	end := off + (nameOff+n+8)&^7
	if end > len(body) {
		return indexEntry{}, false
	}
	return indexEntry{off: int32(off), end: int32(end), nameOff: int32(nameOff), nameLen: int32(n)}, true
}

// fileStat is the status of a work-tree file as the index keeps it: each field cut to 32 bits.
type fileStat struct {
	ctime, ctimeNsec, mtime, mtimeNsec, dev, ino, uid, gid, size uint32
}

func statOf(st *syscall.Stat_t) *fileStat {
	return &fileStat{ctime: uint32(st.Ctim.Sec), ctimeNsec: uint32(st.Ctim.Nsec), mtime: uint32(st.Mtim.Sec),
		mtimeNsec: uint32(st.Mtim.Nsec), dev: uint32(st.Dev), ino: uint32(st.Ino), uid: st.Uid, gid: st.Gid,
		size: uint32(st.Size)}
}

// encodeIndexEntry returns f's version 2 entry: the stat data as Git keeps it (each field cut to 32
// bits), the object id, the flags (stage 0, the name's length) and the name padded with NULs.
func encodeIndexEntry(f indexFile) []byte {
	st := f.stat
	var fixed [indexEntryFixed]byte
	be := binary.BigEndian
	for i, v := range [...]uint32{st.ctime, st.ctimeNsec, st.mtime, st.mtimeNsec, st.dev, st.ino, f.mode, st.uid, st.gid, st.size} {
		be.PutUint32(fixed[4*i:], v)
	}
	copy(fixed[40:60], f.oid)
	be.PutUint16(fixed[60:], uint16(min(len(f.path), indexNameMask)))
	entry := make([]byte, (indexEntryFixed+len(f.path)+8)&^7)
	copy(entry, fixed[:])
	copy(entry[indexEntryFixed:], f.path)
	return entry
}

// racy reports whether the entry's file was modified in the second the index was written (or later):
// a change in that second may not show in its stat data, so Git compares such an entry's content.
// The second is the finest time every Git build compares.
func racy(raw []byte, indexSec int64) bool {
	return indexSec != 0 && int64(binary.BigEndian.Uint32(raw[8:12])) >= indexSec
}

// smudgeRacy returns the entry with its size set to 0 when the file's stat data still match it but its
// content no longer does, as Git does when it writes an index: once the new index is younger than the
// file, Git would otherwise trust the stat data and miss the change.
func smudgeRacy(raw []byte, name string, top string) []byte {
	be := binary.BigEndian
	mode := be.Uint32(raw[24:28])
	if mode&0o170000 != 0o100000 {
		return raw // only regular files are compared by content here; Git handles the rest
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(top, filepath.FromSlash(name)), &st); err != nil {
		return raw // a missing or unreadable file shows as changed anyway
	}
	if uint32(st.Mtim.Sec) != be.Uint32(raw[8:12]) || uint32(st.Size) != be.Uint32(raw[36:40]) {
		return raw // the stat data differ in what every Git compares
	}
	content, err := os.ReadFile(filepath.Join(top, filepath.FromSlash(name)))
	if err == nil {
		h := sha1.New()
		h.Write([]byte("blob " + strconv.Itoa(len(content)) + "\x00"))
		h.Write(content)
		if bytes.Equal(h.Sum(nil), raw[40:60]) {
			return raw
		}
	}
	smudged := bytes.Clone(raw)
	be.PutUint32(smudged[36:40], 0)
	return smudged
}

// cacheTree is the index's TREE extension: for a directory, the number of index entries under it and
// its tree's id, or -1 entries when the directory changed since the tree was written.
type cacheTree struct {
	name     string
	entries  int
	oid      []byte
	children []*cacheTree
}

func parseCacheTree(b []byte) (*cacheTree, []byte, bool) {
	nul := bytes.IndexByte(b, 0)
	if nul < 0 {
		return nil, nil, false
	}
	t := &cacheTree{name: string(b[:nul])}
	b = b[nul+1:]
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil, nil, false
	}
	counts := strings.Split(string(b[:nl]), " ")
	b = b[nl+1:]
	if len(counts) != 2 {
		return nil, nil, false
	}
	entries, err1 := strconv.Atoi(counts[0])
	subtrees, err2 := strconv.Atoi(counts[1])
	if err1 != nil || err2 != nil || subtrees < 0 || entries < -1 || subtrees > len(b) {
		return nil, nil, false
	}
	t.entries = entries
	if entries >= 0 {
		if len(b) < sha1.Size {
			return nil, nil, false
		}
		t.oid, b = b[:sha1.Size], b[sha1.Size:]
	}
	for range subtrees {
		child, rest, ok := parseCacheTree(b)
		if !ok {
			return nil, nil, false
		}
		t.children, b = append(t.children, child), rest
	}
	return t, b, true
}

// invalidate marks every directory above path as changed, and drops the subtree that path names, as
// Git does for a path it updates.
func (t *cacheTree) invalidate(path string) {
	t.entries, t.oid = -1, nil
	first, rest, deeper := strings.Cut(path, "/")
	for i, c := range t.children {
		if c.name != first {
			continue
		}
		if deeper {
			c.invalidate(rest)
		} else {
			t.children = append(t.children[:i:i], t.children[i+1:]...)
		}
		return
	}
}

func (t *cacheTree) encode(out []byte) []byte {
	out = append(out, t.name...)
	out = append(out, 0)
	out = strconv.AppendInt(out, int64(t.entries), 10)
	out = append(out, ' ')
	out = strconv.AppendInt(out, int64(len(t.children)), 10)
	out = append(out, '\n')
	if t.entries >= 0 {
		out = append(out, t.oid...)
	}
	for _, c := range t.children {
		out = c.encode(out)
	}
	return out
}

// indexFiles turns what writeBlobs wrote into the index's terms. ok is false when a file is left to Git:
// a symbolic link, or an object id that is not SHA-1.
func indexFiles(b blobs) (files []indexFile, ok bool) {
	files = make([]indexFile, len(b.files))
	for i, p := range b.files {
		files[i].path = p
		if b.modes[i] == "" {
			continue
		}
		raw, err := hex.DecodeString(b.oids[i])
		if err != nil || len(raw) != sha1.Size || b.stats[i] == nil {
			return nil, false
		}
		m, err := strconv.ParseUint(b.modes[i], 8, 32)
		if err != nil || (m != 0o100644 && m != 0o100755) {
			return nil, false
		}
		files[i] = indexFile{path: p, mode: uint32(m), oid: raw, stat: b.stats[i]}
	}
	return files, true
}
