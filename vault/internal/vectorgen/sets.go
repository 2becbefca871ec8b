package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/agent-vault/agent-vault/vault/internal/vectors"
)

// A vectorSet is one expected file with the keys/ and vaults/ entries it owns (the sets' prefixes decide
// which set owns a name).
type vectorSet struct {
	name   string // as given to -sets
	file   string // the expected file, directly under the output directory
	prefix string // owns the names that start with prefix; "" (the classic set): the names no other set owns
	build  func(g *gen) ([]*Case, error)
}

var vectorSets = []vectorSet{
	{name: "classic", file: vectors.ClassicFile, build: (*gen).build},
	{name: "pq", file: vectors.PQFile, prefix: vectors.PQPrefix, build: (*gen).buildPQ},
	{name: "admins", file: vectors.AdminsFile, prefix: vectors.AdminsPrefix, build: (*gen).buildAdmins},
}

// owns reports whether a keys/ or vaults/ entry of this name belongs to the set.
func (s vectorSet) owns(name string) bool {
	if s.prefix != "" {
		return strings.HasPrefix(name, s.prefix)
	}
	return !slices.ContainsFunc(vectorSets, func(o vectorSet) bool { return o.prefix != "" && strings.HasPrefix(name, o.prefix) })
}

// chooseSets returns the sets named, in generation order; with addOnly, those whose expected file does not
// exist in out yet.
func chooseSets(out string, names []string, addOnly bool) ([]vectorSet, error) {
	for _, n := range names {
		if !slices.ContainsFunc(vectorSets, func(s vectorSet) bool { return s.name == n }) {
			return nil, fmt.Errorf("unknown set %q (sets: %s)", n, setNames(vectorSets))
		}
	}
	var todo []vectorSet
	for _, s := range vectorSets {
		switch {
		case !slices.Contains(names, s.name):
		case addOnly && exists(filepath.Join(out, s.file)):
			fmt.Printf("vectorgen: %s set kept (%s exists; add-only)\n", s.name, s.file)
		default:
			todo = append(todo, s)
		}
	}
	return todo, nil
}

// replaceSets moves the sets made in stage into out. Without addOnly, the files each set owns in out are
// removed first; with addOnly, nothing in out is removed, and a file of the stage that out already has stops
// the run before anything is written.
func replaceSets(stage, out string, sets []vectorSet, addOnly bool) error {
	if addOnly {
		for _, dir := range []string{"keys", "vaults"} {
			entries, err := os.ReadDir(filepath.Join(stage, dir))
			if err != nil && !os.IsNotExist(err) {
				return err
			}
			for _, e := range entries {
				if exists(filepath.Join(out, dir, e.Name())) {
					return fmt.Errorf("add-only: %s/%s exists in %s; nothing written", dir, e.Name(), out)
				}
			}
		}
	} else {
		for _, s := range sets {
			if err := removeOwned(out, s); err != nil {
				return err
			}
		}
	}
	return copyTree(stage, out)
}

// removeOwned removes set s's expected file and its keys/ and vaults/ entries from out.
func removeOwned(out string, s vectorSet) error {
	if err := os.RemoveAll(filepath.Join(out, s.file)); err != nil {
		return err
	}
	for _, dir := range []string{"keys", "vaults"} {
		entries, err := os.ReadDir(filepath.Join(out, dir))
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		for _, e := range entries {
			if s.owns(e.Name()) {
				if err := os.RemoveAll(filepath.Join(out, dir, e.Name())); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func setNames(sets []vectorSet) string {
	var names []string
	for _, s := range sets {
		names = append(names, s.name)
	}
	return strings.Join(names, ", ")
}
