package daemon

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// A password in the tokens file is stored as
//
//	pbkdf2-sha256$ITERATIONS$SALT$KEY
//
// (salt and key in unpadded base64), so that the file never holds it in
// clear; `kilnd -hash-password` makes one.
const passwordPrefix = "pbkdf2-sha256$"

// passwordIterations follows OWASP's advice for PBKDF2-HMAC-SHA256.
const passwordIterations = 600_000

// passwordHash is a parsed password field.
type passwordHash struct {
	iterations int
	salt, key  []byte
}

// HashPassword returns the tokens file field for password.
func HashPassword(password string) (string, error) {
	if len(password) < 12 {
		return "", fmt.Errorf("hash password: shorter than 12 characters")
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	key, err := pbkdf2.Key(sha256.New, password, salt, passwordIterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	enc := base64.RawStdEncoding
	return passwordPrefix + strconv.Itoa(passwordIterations) + "$" + enc.EncodeToString(salt) + "$" + enc.EncodeToString(key), nil
}

func parsePasswordHash(field string) (*passwordHash, error) {
	parts := strings.Split(strings.TrimPrefix(field, passwordPrefix), "$")
	if len(parts) != 3 {
		return nil, fmt.Errorf("password field is not pbkdf2-sha256$ITERATIONS$SALT$KEY")
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil || n < 10_000 {
		return nil, fmt.Errorf("password field: iterations %q: at least 10000", parts[0])
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[1])
	key, err2 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) != sha256.Size {
		return nil, fmt.Errorf("password field: salt or key is not valid base64 of the right length")
	}
	return &passwordHash{iterations: n, salt: salt, key: key}, nil
}

// dummyPasswordHash is a hash no password matches, of the iteration count
// the file's passwords have (the highest, if they differ), for the logins
// that name no password credential.
func dummyPasswordHash(creds []credential) *passwordHash {
	n := 0
	for _, c := range creds {
		if c.password != nil {
			n = max(n, c.password.iterations)
		}
	}
	if n == 0 {
		n = passwordIterations
	}
	p := &passwordHash{iterations: n, salt: make([]byte, 16), key: make([]byte, sha256.Size)}
	rand.Read(p.salt)
	rand.Read(p.key) // a random key: no password derives it
	return p
}

func (p *passwordHash) matches(password string) bool {
	key, err := pbkdf2.Key(sha256.New, password, p.salt, p.iterations, sha256.Size)
	return err == nil && subtle.ConstantTimeCompare(key, p.key) == 1
}
