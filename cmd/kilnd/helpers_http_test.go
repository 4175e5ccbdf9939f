package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kiln/api"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// tokenLines is a tokens file's content: name, scopes and token per entry.
type tokenLine struct{ name, scopes, token string }

// writeTokens writes a tokens file readable by its owner alone.
func (e *env) writeTokens(t *testing.T, lines ...tokenLine) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# name scopes token\n")
	for _, l := range lines {
		b.WriteString(l.name + " " + l.scopes + " " + l.token + "\n")
	}
	path := filepath.Join(e.dir, "tokens")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// httpTable is an [http] table for the env.
func httpTable(listen, tokens, extra string) string {
	return "\n[http]\nlisten = \"" + listen + "\"\ntokens = \"" + tokens + "\"\n" + extra
}

// tcpRequest sends a request to kilnd's TCP listener with a bearer token
// ("" sends none) and returns the answer; the caller closes its body.
func tcpRequest(t *testing.T, c *http.Client, method, url, token string) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp
}

// submitNoops queues n noop jobs in queue through the socket and waits
// until every one has succeeded.
func (e *env) submitNoops(t *testing.T, queue string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	reqs := make([]api.SubmitRequest, n)
	for i := range reqs {
		reqs[i] = api.SubmitRequest{Type: "noop", Queue: queue}
	}
	jobs, err := e.client().SubmitBatch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i, j := range jobs {
		ids[i] = j.ID
		if got := e.finished(t, j.ID); got.State != "succeeded" {
			t.Fatalf("job %s ended %s", j.ID, got.State)
		}
	}
	return ids
}
