package vault

import (
	"fmt"
	"net"
	"strings"
)

// Limits on names (docs/format.md section 2).
const (
	MaxSegmentLen = 64  // the longest agent name, group name or path segment, in bytes
	MaxPathLen    = 256 // the longest secret path, in bytes
	MaxPathDepth  = 8   // the most segments of a secret path
)

// CheckSegment reports why s is not a valid agent, group or path segment name, or nil when it is.
func CheckSegment(s string) error {
	if s == "" {
		return fmt.Errorf("empty name")
	}
	if s == "." || s == ".." {
		return fmt.Errorf("%q is not allowed as a name", s)
	}
	if len(s) > MaxSegmentLen {
		return fmt.Errorf("name is longer than %d characters", MaxSegmentLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%q has a character outside [A-Za-z0-9._-]", s)
		}
	}
	return nil
}

// CheckPath reports why p is not a valid secret path, or nil when it is.
func CheckPath(p string) error {
	if p == "" {
		return fmt.Errorf("empty secret path")
	}
	if len(p) > MaxPathLen {
		return fmt.Errorf("secret path is longer than %d bytes", MaxPathLen)
	}
	segs := strings.Split(p, "/")
	if len(segs) > MaxPathDepth {
		return fmt.Errorf("secret path %q has more than %d segments", p, MaxPathDepth)
	}
	for _, s := range segs {
		if s == "" {
			return fmt.Errorf("secret path %q has an empty segment (leading, trailing or double '/')", p)
		}
		if err := CheckSegment(s); err != nil {
			return fmt.Errorf("secret path %q: %w", p, err)
		}
	}
	return nil
}

// DefaultGroup is the group of a secret that was not placed elsewhere: its first segment.
func DefaultGroup(path string) string {
	if i := strings.IndexByte(path, '/'); i >= 0 {
		return path[:i]
	}
	return path
}

// CheckUserPath validates a secret path typed by a user: an error of KindUsage naming the path when it is
// bad (CheckPath), nil otherwise.
func CheckUserPath(p string) error {
	if err := CheckPath(p); err != nil {
		return newErr(KindUsage, "invalid %w", err)
	}
	return nil
}

func userSegment(what, s string) error {
	if err := CheckSegment(s); err != nil {
		return wrapErr(KindUsage, err, "invalid %s name", what)
	}
	return nil
}

// CheckHost reports why h is not a host name an owner may allow a secret to be sent to: a lower-case DNS
// name or an IP address, without scheme, port or path.
func CheckHost(h string) error {
	if h == "" || len(h) > 253 {
		return fmt.Errorf("host %q: empty or too long", h)
	}
	if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
		return nil
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host %q is not a valid host name", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("host %q is not a lower-case host name (no scheme, port or path)", h)
			}
		}
	}
	return nil
}
