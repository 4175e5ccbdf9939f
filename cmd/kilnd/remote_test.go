package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kiln/api"
)

// The TCP listener: every route needs a bearer token with its scope; 401
// without a good one, 403 without the scope, both logged without the
// token; TLS with a certificate from a CA the test makes; and the unix
// socket works as before.
func TestRemoteAPIWithTokensOverTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := freeAddr(t)
	const (
		readTok   = "read-token-abcdefghijkl"
		submitTok = "submit-token-abcdefghijkl"
		adminTok  = "admin-token-abcdefghijkl"
	)
	tokens := e.writeTokens(t, tokenLine{"grafana", "read", readTok}, tokenLine{"uploader", "submit", submitTok}, tokenLine{"ops", "admin", adminTok})
	caPool, cert, key := makeTestCA(t, e.dir)
	e.writeConfig(t, e.configText("", httpTable(addr, tokens, "tls_cert = \""+cert+"\"\ntls_key = \""+key+"\"\n")))
	d := e.start(t)

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool}}}
	base := "https://" + addr
	cases := []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/v1/status", "", http.StatusUnauthorized},
		{"GET", "/v1/status", "not-a-token-at-all-xyz", http.StatusUnauthorized},
		{"GET", "/v1/status", readTok, http.StatusOK},
		{"GET", "/metrics", readTok, http.StatusOK},
		{"GET", "/metrics", "", http.StatusUnauthorized},
		{"POST", "/v1/queues/images/pause", readTok, http.StatusForbidden},
		{"POST", "/v1/queues/images/pause", submitTok, http.StatusForbidden},
		{"POST", "/v1/queues/images/pause", adminTok, http.StatusOK},
		{"GET", "/v1/status", submitTok, http.StatusForbidden},
		{"GET", "/v1/status", adminTok, http.StatusOK},
	}
	for _, c := range cases {
		resp := tcpRequest(t, client, c.method, base+c.path, c.token)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s with %q: %d %s, want %d", c.method, c.path, c.token, resp.StatusCode, body, c.want)
		}
		if c.want == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", c.method, c.path)
		}
	}
	// A submit token queues a job over TCP.
	req, _ := http.NewRequest("POST", base+"/v1/jobs", strings.NewReader(`{"type":"noop","queue":"images"}`))
	req.Header.Set("Authorization", "Bearer "+submitTok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var sub api.Submitted
	json.NewDecoder(resp.Body).Decode(&sub)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || sub.ID == "" {
		t.Fatalf("submit over TCP: %d %+v", resp.StatusCode, sub)
	}
	// Plain HTTP to the TLS port gets nothing useful.
	if resp, err := http.Get("http://" + addr + "/v1/status"); err == nil {
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered 200 on the TLS listener")
		}
		resp.Body.Close()
	}
	// The unix socket works as before, without a token.
	if r := e.kilnctl(t, "status"); r.code != 0 || !strings.Contains(r.stdout, "images (paused)") {
		t.Fatalf("kilnctl status over the socket: %d %s %s", r.code, r.stdout, r.stderr)
	}

	d.waitLog(t, "http request refused: token lacks the scope")
	log := d.stderr.String()
	if !strings.Contains(log, "token_name=grafana") || !strings.Contains(log, "http request refused: unknown token") {
		t.Fatalf("refusals not logged with the token's name:\n%s", log)
	}
	for _, secret := range []string{readTok, submitTok, adminTok, "not-a-token-at-all-xyz"} {
		if strings.Contains(log, secret) {
			t.Fatalf("the log holds a token's value %q", secret)
		}
	}
}

// A tokens file that others may read is refused at start, as a config
// error, and so is a malformed one.
func TestTokensFileReadableByOthersIsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tokens := e.writeTokens(t, tokenLine{"ops", "admin", "admin-token-abcdefghijkl"})
	if err := os.Chmod(tokens, 0o644); err != nil {
		t.Fatal(err)
	}
	e.writeConfig(t, e.configText("", httpTable(freeAddr(t), tokens, "")))
	out, err := execKilnd(t, "-config", e.config)
	if code := exitCode(err); code != 78 || !strings.Contains(out, "lets others read it") {
		t.Fatalf("world-readable tokens file: exit %d, output %q; want 78 naming the mode", code, out)
	}
	if err := os.WriteFile(tokens, []byte("ops superuser admin-token-abcdefghijkl\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tokens, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = execKilnd(t, "-config", e.config)
	if code := exitCode(err); code != 78 || !strings.Contains(out, tokens+":1: scope \"superuser\"") {
		t.Fatalf("bad scope: exit %d, output %q", code, out)
	}
}

// makeTestCA writes a CA and a server certificate for 127.0.0.1 signed by
// it, and returns a pool that trusts the CA and the server's files.
func makeTestCA(t *testing.T, dir string) (*x509.CertPool, string, string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kiln test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kilnd"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, certPath, keyPath
}
