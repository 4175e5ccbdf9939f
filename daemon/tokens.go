package daemon

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
)

// Scope is what a bearer token may do on the TCP listener.
type Scope string

const (
	ScopeRead   Scope = "read"   // status, jobs, events, metrics
	ScopeSubmit Scope = "submit" // queue jobs
	ScopeAdmin  Scope = "admin"  // pause, resume, retry, purge, cancel, reload; implies the others
)

// credential is one line of the tokens file.
type credential struct {
	name   string
	scopes []Scope
	// secret is the SHA-256 of the token, so that comparing it takes the
	// same time whatever the guess.
	secret [sha256.Size]byte
	// password is set instead of secret for a dashboard login by name and
	// password; it is never a bearer token.
	password *passwordHash
	// key tells this line from any other with the same name: it is a hash
	// of the name and the token or password field. What was allowed under
	// a key lasts only while a tokens file holds the key (see keeps).
	key string
}

func (c *credential) allows(s Scope) bool {
	return slices.Contains(c.scopes, ScopeAdmin) || slices.Contains(c.scopes, s)
}

// tokenSet is the parsed tokens file.
type tokenSet struct {
	creds []credential
	// dummy is checked when a login names no password credential, so that
	// an unknown name costs the same hash as a wrong password and the
	// answer's timing does not tell which names exist.
	dummy *passwordHash
}

// minTokenLen keeps guessable tokens out of the file.
const minTokenLen = 16

// loadTokens reads the tokens file: one credential a line, as
//
//	NAME  SCOPE[,SCOPE...]  TOKEN
//	NAME  SCOPE[,SCOPE...]  pbkdf2-sha256$...   (a dashboard password)
//
// with # comments. The file holds secrets, so it must belong to root (or
// to the user kilnd runs as) and be unreadable by others; anything else is
// refused rather than trusted.
func loadTokens(path string) (*tokenSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("tokens file %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("tokens file %s: mode %04o lets others read it; chmod o-rwx it", path, fi.Mode().Perm())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Getuid() {
		return nil, fmt.Errorf("tokens file %s: owned by uid %d, not root: chown root it", path, st.Uid)
	}
	set := &tokenSet{}
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: expected NAME SCOPES TOKEN, found %d fields", path, n, len(fields))
		}
		c := credential{name: fields[0]}
		if names[c.name] {
			return nil, fmt.Errorf("%s:%d: name %q is used twice", path, n, c.name)
		}
		names[c.name] = true
		for _, s := range strings.Split(fields[1], ",") {
			switch sc := Scope(s); sc {
			case ScopeRead, ScopeSubmit, ScopeAdmin:
				c.scopes = append(c.scopes, sc)
			default:
				return nil, fmt.Errorf("%s:%d: scope %q is not one of read, submit, admin", path, n, s)
			}
		}
		c.key = credentialKey(c.name, fields[2])
		switch {
		case strings.HasPrefix(fields[2], passwordPrefix):
			p, err := parsePasswordHash(fields[2])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, n, err)
			}
			c.password = p
		case len(fields[2]) < minTokenLen:
			return nil, fmt.Errorf("%s:%d: token of %s is shorter than %d characters", path, n, c.name, minTokenLen)
		default:
			c.secret = sha256.Sum256([]byte(fields[2]))
		}
		set.creds = append(set.creds, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokens file %s: %w", path, err)
	}
	set.dummy = dummyPasswordHash(set.creds)
	return set, nil
}

// credentialKey identifies a tokens file line by its name and its token or
// password field, without holding either.
func credentialKey(name, field string) string {
	sum := sha256.Sum256([]byte(name + "\x00" + field))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// lookup finds the credential of a token, comparing against every one in
// constant time so that the answer's timing tells nothing.
func (t *tokenSet) lookup(token string) *credential {
	if t == nil || token == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(token))
	var found *credential
	for i := range t.creds {
		if t.creds[i].password == nil && subtle.ConstantTimeCompare(sum[:], t.creds[i].secret[:]) == 1 {
			found = &t.creds[i]
		}
	}
	return found
}

// login finds the credential of a dashboard login: a token alone, or a
// name with its password. A name costs exactly one password hash whether
// it is known or not, and whatever the password.
func (t *tokenSet) login(name, secret string) *credential {
	return t.loginWith(name, secret, (*passwordHash).matches)
}

// loginWith is login with the password check given, so that a test can
// count the hashes a login costs.
func (t *tokenSet) loginWith(name, secret string, matches func(*passwordHash, string) bool) *credential {
	if t == nil {
		return nil
	}
	if name == "" {
		return t.lookup(secret)
	}
	var c *credential
	for i := range t.creds {
		if t.creds[i].name == name && t.creds[i].password != nil {
			c = &t.creds[i]
		}
	}
	if c == nil {
		matches(t.dummy, secret)
		return nil
	}
	if !matches(c.password, secret) || secret == "" {
		return nil
	}
	return c
}

// keeps reports whether the set holds the credential of key with at least
// scopes: what was allowed under it may go on. A credential removed, whose
// token or password changed, or whose scopes were narrowed, is not kept.
func (t *tokenSet) keeps(key string, scopes []Scope) bool {
	if t == nil {
		return false
	}
	for i := range t.creds {
		if c := &t.creds[i]; c.key == key {
			for _, s := range scopes {
				if !c.allows(s) {
					return false
				}
			}
			return true
		}
	}
	return false
}

// hasName reports whether name is a configured credential's name, which
// alone may be written to the log as it is.
func (t *tokenSet) hasName(name string) bool {
	if t == nil {
		return false
	}
	for i := range t.creds {
		if t.creds[i].name == name {
			return true
		}
	}
	return false
}

// bearerToken takes the token of an "Authorization: Bearer T" header.
func bearerToken(header string) string {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return string(bytes.TrimSpace([]byte(token)))
}
