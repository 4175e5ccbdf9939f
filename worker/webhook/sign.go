package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// Sign is the signature header's value for body under key.
func Sign(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether header is body's signature under key; receivers
// written in Go can use it as it is.
func Verify(key, body []byte, header string) bool {
	want := Sign(key, body)
	return hmac.Equal([]byte(want), []byte(strings.TrimSpace(header)))
}

// minSecretLen keeps guessable keys out.
const minSecretLen = 16

// ReadSecret reads the HMAC key: the file's content without surrounding
// white space. The file must not be readable by others.
func ReadSecret(path string) ([]byte, error) {
	if path == "" {
		return nil, fmt.Errorf("webhook secret: no secret_file configured")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	if fi.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("webhook secret %s: mode %04o lets others read it; chmod o-rwx it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	key := bytes.TrimSpace(b)
	if len(key) < minSecretLen {
		return nil, fmt.Errorf("webhook secret %s: shorter than %d bytes", path, minSecretLen)
	}
	return key, nil
}
