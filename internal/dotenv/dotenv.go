// Package dotenv reads and writes the dotenv format: one KEY=value per line, as shells, Docker Compose
// and most dotenv libraries read it.
//
// Accepted: blank lines and lines starting with '#'; an optional "export " before the key; unquoted
// values (surrounding blanks trimmed, a " #" starts a comment); single-quoted values, taken literally;
// double-quoted values, with the escapes \n \r \t \" \\ \$ and \`, that may span lines. A closing quote may
// be followed only by blanks and a comment.
//
// Errors name the line and never quote its content: a dotenv file holds secrets.
package dotenv

import (
	"fmt"
	"strings"
)

// Pair is one KEY=value of a file.
type Pair struct {
	Key   string
	Value string
	Line  int // 1-based line where the pair starts
}

// Parse reads data. A key is made of letters, digits, '_', '.' and '-'. The same key twice is an error.
func Parse(data []byte) ([]Pair, error) {
	p := &parser{s: string(data), line: 1}
	var pairs []Pair
	seen := map[string]int{}
	for {
		p.skipBlankLines()
		if p.eof() {
			return pairs, nil
		}
		start := p.line
		pair, err := p.pair()
		if err != nil {
			return nil, err
		}
		if first, dup := seen[pair.Key]; dup {
			return nil, fmt.Errorf("line %d: %s is already set on line %d", start, pair.Key, first)
		}
		seen[pair.Key] = start
		pair.Line = start
		pairs = append(pairs, pair)
	}
}

type parser struct {
	s    string
	i    int
	line int
}

func (p *parser) eof() bool { return p.i >= len(p.s) }

func (p *parser) peek() byte { return p.s[p.i] }

func (p *parser) next() byte {
	c := p.s[p.i]
	p.i++
	if c == '\n' {
		p.line++
	}
	return c
}

func (p *parser) skipBlanks() {
	for !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
		p.i++
	}
}

// skipBlankLines skips empty lines, blank lines and comment lines.
func (p *parser) skipBlankLines() {
	for !p.eof() {
		p.skipBlanks()
		if p.eof() {
			return
		}
		switch p.peek() {
		case '\n', '\r':
			p.next()
		case '#':
			p.skipLine()
		default:
			return
		}
	}
}

func (p *parser) skipLine() {
	for !p.eof() && p.next() != '\n' {
	}
}

func isKeyByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

func (p *parser) pair() (Pair, error) {
	if strings.HasPrefix(p.s[p.i:], "export ") || strings.HasPrefix(p.s[p.i:], "export\t") {
		p.i += len("export")
		p.skipBlanks()
	}
	start := p.i
	for !p.eof() && isKeyByte(p.peek()) {
		p.i++
	}
	key := p.s[start:p.i]
	p.skipBlanks()
	if key == "" || p.eof() || p.peek() != '=' {
		return Pair{}, fmt.Errorf("line %d: expected KEY=value (a key is letters, digits, '_', '.' and '-')", p.line)
	}
	p.i++ // '='
	p.skipBlanks()
	value, err := p.value()
	if err != nil {
		return Pair{}, err
	}
	return Pair{Key: key, Value: value}, nil
}

func (p *parser) value() (string, error) {
	if p.eof() {
		return "", nil
	}
	switch p.peek() {
	case '\'':
		return p.quoted('\'')
	case '"':
		return p.quoted('"')
	}
	start := p.i
	for !p.eof() && p.peek() != '\n' {
		if p.peek() == '#' && p.i > start && (p.s[p.i-1] == ' ' || p.s[p.i-1] == '\t') {
			break
		}
		p.i++
	}
	value := strings.TrimRight(p.s[start:p.i], " \t\r")
	p.skipLine()
	return value, nil
}

// quoted reads a value in quotes q, then the rest of its line, which may hold only a comment.
func (p *parser) quoted(q byte) (string, error) {
	open := p.line
	p.next()
	var b strings.Builder
	for {
		if p.eof() {
			return "", fmt.Errorf("line %d: the quote opened here is never closed", open)
		}
		c := p.next()
		if c == q {
			break
		}
		if c == '\\' && q == '"' && !p.eof() {
			switch e := p.next(); e {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '"', '\\', '$', '`':
				b.WriteByte(e)
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
			continue
		}
		b.WriteByte(c)
	}
	p.skipBlanks()
	if !p.eof() && p.peek() == '\r' {
		p.i++
	}
	if !p.eof() && p.peek() != '\n' && p.peek() != '#' {
		return "", fmt.Errorf("line %d: unexpected text after the closing quote", p.line)
	}
	p.skipLine()
	return b.String(), nil
}

// Quote spells value so that Parse, POSIX shells (`set -a; . FILE`) and Docker Compose read it back
// exactly: in single quotes when it is one line without a single quote, else in double quotes where
// only " \ $ and ` are escaped and line breaks stay literal, which all three read as part of the value.
func Quote(value string) string {
	if !strings.ContainsAny(value, "'\n\r") {
		return "'" + value + "'"
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '"', '\\', '$', '`':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
