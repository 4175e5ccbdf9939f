package daemon

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// passwordField makes a tokens file password field of few iterations, so
// that the tests do not spend seconds hashing.
func passwordField(t *testing.T, password string, iterations int) string {
	t.Helper()
	salt := []byte("0123456789abcdef")
	key, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawStdEncoding
	return passwordPrefix + strconv.Itoa(iterations) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key)
}

func writeTokensFile(t *testing.T, text string) *tokenSet {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := loadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// Every login by name costs one password hash of the same iteration count,
// whether the name is unknown, is a token's rather than a password's, or
// has its right or a wrong password; a token alone costs none.
func TestLoginHashesOnceWhateverTheName(t *testing.T) {
	t.Parallel()
	set := writeTokensFile(t, "alice admin "+passwordField(t, "correct horse battery", 20_000)+"\n"+
		"bob read "+passwordField(t, "another horse battery", 20_000)+"\n"+
		"grafana read grafana-token-0123456789\n")
	cases := []struct {
		name, secret string
		hashes       int
		ok           bool
	}{
		{"alice", "correct horse battery", 1, true},
		{"alice", "wrong horse battery", 1, false},
		{"alice", "", 1, false},
		{"nobody", "correct horse battery", 1, false},
		{"grafana", "grafana-token-0123456789", 1, false}, // a token is no password
		{"", "grafana-token-0123456789", 0, true},
		{"", "correct horse battery", 0, false},
	}
	for _, c := range cases {
		var iterations []int
		got := set.loginWith(c.name, c.secret, func(p *passwordHash, s string) bool {
			iterations = append(iterations, p.iterations)
			return p.matches(s)
		})
		if len(iterations) != c.hashes || (got != nil) != c.ok {
			t.Errorf("login %q/%q: %d hashes, logged in %v; want %d, %v", c.name, c.secret, len(iterations), got != nil, c.hashes, c.ok)
		}
		for _, n := range iterations {
			if n != 20_000 {
				t.Errorf("login %q: a hash of %d iterations, the file's are of 20000", c.name, n)
			}
		}
	}
	if none := writeTokensFile(t, "grafana read grafana-token-0123456789\n"); none.dummy.iterations != passwordIterations {
		t.Errorf("without passwords in the file the dummy hash has %d iterations, want %d", none.dummy.iterations, passwordIterations)
	}
}

// A credential is kept by a new file only with the same name, the same
// token or password field, and at least its scopes.
func TestTokenSetKeeps(t *testing.T) {
	t.Parallel()
	pw := passwordField(t, "correct horse battery", 10_000)
	old := writeTokensFile(t, "ops read,submit ops-token-0123456789\nalice admin "+pw+"\nviewer read viewer-token-0123456789\n")
	byName := map[string]*credential{}
	for i := range old.creds {
		byName[old.creds[i].name] = &old.creds[i]
	}
	cases := []struct {
		file string
		kept map[string]bool
	}{
		{"ops read,submit ops-token-0123456789\nalice admin " + pw + "\nviewer read viewer-token-0123456789\n",
			map[string]bool{"ops": true, "alice": true, "viewer": true}},
		{"ops admin ops-token-0123456789\n", // widened: kept; the others removed
			map[string]bool{"ops": true}},
		{"ops read ops-token-0123456789\nalice read " + pw + "\nviewer read viewer-token-9876543210\n", // narrowed, narrowed, new token
			map[string]bool{}},
		{"ops2 read,submit ops-token-0123456789\nalice admin " + passwordField(t, "another horse battery", 10_000) + "\n", // renamed, new password
			map[string]bool{}},
	}
	for i, c := range cases {
		next := writeTokensFile(t, c.file)
		for name, cred := range byName {
			if got := next.keeps(cred.key, cred.scopes); got != c.kept[name] {
				t.Errorf("file %d: keeps %s = %v, want %v", i, name, got, c.kept[name])
			}
		}
	}
	var none *tokenSet
	if none.keeps(byName["ops"].key, nil) {
		t.Error("no tokens set keeps a credential")
	}
}
