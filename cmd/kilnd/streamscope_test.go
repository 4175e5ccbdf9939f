package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"kiln/api"
)

// A submit token may queue jobs over the streaming submit, as it may one
// at a time and in batches; a read token may not. Over the TCP listener
// with TLS, as a remote uploader uses it.
func TestSubmitTokenStreamsJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := freeAddr(t)
	const (
		readTok   = "read-token-abcdefghijkl"
		submitTok = "submit-token-abcdefghijkl"
	)
	tokens := e.writeTokens(t, tokenLine{"grafana", "read", readTok}, tokenLine{"uploader", "submit", submitTok})
	caPool, cert, key := makeTestCA(t, e.dir)
	e.writeConfig(t, e.configText("", httpTable(addr, tokens, "tls_cert = \""+cert+"\"\ntls_key = \""+key+"\"\n")))
	e.start(t)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool}}}

	stream := func(token string) (*http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		t.Cleanup(cancel)
		body := `{"tag":"a","type":"noop","queue":"images"}` + "\n" + `{"tag":"b","type":"noop","queue":"images"}` + "\n"
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+api.StreamPath, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/x-ndjson")
		return client.Do(req)
	}

	resp, err := stream(submitTok)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("stream with a submit token: %d %s, want 200", resp.StatusCode, b)
	}
	stored := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var a api.StreamAck
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("answer %q: %v", sc.Text(), err)
		}
		if a.ID == "" {
			t.Errorf("job %s refused: %s", a.Tag, a.Error)
		}
		stored[a.Tag] = a.ID
	}
	resp.Body.Close()
	if len(stored) != 2 {
		t.Fatalf("answers %v, want both jobs stored", stored)
	}
	for tag, id := range stored {
		if j := e.finished(t, id); j.State != "succeeded" {
			t.Errorf("job %s (%s) ended %s", tag, id, j.State)
		}
	}

	resp, err = stream(readTok)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "lacks the submit scope") {
		t.Fatalf("stream with a read token: %d %s, want 403 naming the submit scope", resp.StatusCode, b)
	}
}
