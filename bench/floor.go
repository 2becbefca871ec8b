package main

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"filippo.io/age"
)

// The crypto-only floor of a grant or revoke on n secrets: the age work alone, in a tight loop in this
// process on every core, with no files, no signatures, no indexes and no Git.
//
//   - grant: for each secret, unwrap its file key from the owner's X25519 stanza with the owner
//     identity, wrap it to the one new recipient, and compute the header MAC again (HKDF-SHA256 and
//     HMAC-SHA256, as age does). This is the header re-wrap that the public filippo.io/age API allows
//     (X25519Identity.Unwrap, X25519Recipient.Wrap); the payload is untouched.
//   - revoke: for each secret, unwrap its file key from the owner's stanza and compute the header MAC of
//     the remaining stanzas (docs/format.md section 9.2: the file key stays, the revoked stanza goes).
//   - import: encrypt each value, as a new age file, to the owner.
type floors struct {
	grant, revoke, importEnc time.Duration
	workers                  int
}

func measureFloor(n, repeats int) (floors, error) {
	owner, err := age.GenerateX25519Identity()
	if err != nil {
		return floors{}, err
	}
	member, _ := age.GenerateX25519Identity()
	added, _ := age.GenerateX25519Identity()
	workers := runtime.GOMAXPROCS(0)

	// Setup, not timed: n file keys wrapped to the owner and a member.
	stanzas := make([][]*age.Stanza, n)
	for i := range n {
		fk := make([]byte, 16)
		rand.Read(fk)
		a, err := owner.Recipient().Wrap(fk)
		if err != nil {
			return floors{}, err
		}
		b, err := member.Recipient().Wrap(fk)
		if err != nil {
			return floors{}, err
		}
		stanzas[i] = append(a, b...)
	}

	headerMAC := func(fk []byte, stanzas []*age.Stanza) error {
		key, err := hkdf.Key(sha256.New, fk, nil, "header", 32)
		if err != nil {
			return err
		}
		mac := hmac.New(sha256.New, key)
		io.WriteString(mac, "age-encryption.org/v1\n")
		for _, s := range stanzas {
			fmt.Fprintf(mac, "-> %s %v\n", s.Type, s.Args)
			mac.Write(s.Body)
		}
		mac.Sum(nil)
		return nil
	}
	grantOne := func(i int) error {
		fk, err := owner.Unwrap(stanzas[i])
		if err != nil {
			return err
		}
		ns, err := added.Recipient().Wrap(fk)
		if err != nil {
			return err
		}
		return headerMAC(fk, append(append([]*age.Stanza(nil), stanzas[i]...), ns...))
	}
	revokeOne := func(i int) error {
		fk, err := owner.Unwrap(stanzas[i][:1])
		if err != nil {
			return err
		}
		return headerMAC(fk, stanzas[i][:1])
	}
	importOne := func(i int) error {
		var buf bytes.Buffer
		w, err := age.Encrypt(&buf, owner.Recipient())
		if err != nil {
			return err
		}
		io.WriteString(w, secretValue(i))
		return w.Close()
	}

	var f floors
	f.workers = workers
	for _, m := range []struct {
		one func(int) error
		out *time.Duration
	}{{grantOne, &f.grant}, {revokeOne, &f.revoke}, {importOne, &f.importEnc}} {
		var times []time.Duration
		for range max(repeats, 1) {
			d, err := parallel(n, workers, m.one)
			if err != nil {
				return floors{}, err
			}
			times = append(times, d)
		}
		*m.out = medianDur(times)
	}
	return f, nil
}

// parallel runs one(i) for i in [0, n) on workers goroutines and returns the wall time.
func parallel(n, workers int, one func(int) error) (time.Duration, error) {
	var next int
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				if err := one(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), firstErr
}
