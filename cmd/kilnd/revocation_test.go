package main

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"kiln/api"
)

// hashPassword runs kilnd -hash-password and returns the tokens file field.
func hashPassword(t *testing.T, password string) string {
	t.Helper()
	cmd := exec.Command(kilndPath(), "-hash-password")
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kilnd -hash-password: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// eventStream is an open GET /v1/events on the TCP listener. Its lines
// arrive on lines; ended is closed once the body has ended.
type eventStream struct {
	lines chan string
	ended chan struct{}
}

func openEventStream(t *testing.T, c *http.Client, u, token string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET %s: %d, want 200", u, resp.StatusCode)
	}
	s := &eventStream{lines: make(chan string, 1024), ended: make(chan struct{})}
	go func() {
		defer close(s.ended)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			select {
			case s.lines <- sc.Text():
			default: // the test reads only the first events
			}
		}
	}()
	return s
}

// endsWithin reports whether the stream ends before the deadline.
func (s *eventStream) endsWithin(d time.Duration) bool {
	select {
	case <-s.ended:
		return true
	case <-time.After(d):
		return false
	}
}

// receivesJobEvent reports whether a job event arrives before the deadline.
func (s *eventStream) receivesJobEvent(d time.Duration) bool {
	deadline := time.After(d)
	for {
		select {
		case l := <-s.lines:
			if l == "event: "+api.EventTypeJob {
				return true
			}
		case <-s.ended:
			return false
		case <-deadline:
			return false
		}
	}
}

// loggedIn logs a new dashboard client in and checks that its session
// reads a page and the API.
func loggedIn(t *testing.T, base string, form url.Values) *http.Client {
	t.Helper()
	c := dashboardClient(t)
	if resp := postForm(t, c, base+"/ui/login", form, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login as %q: %d, want 303", form.Get("name"), resp.StatusCode)
	}
	for _, p := range []string{"/ui/", "/v1/status"} {
		if code, _ := getBody(t, c, base+p); code != http.StatusOK {
			t.Fatalf("GET %s with the session of %q: %d", p, form.Get("name"), code)
		}
	}
	return c
}

// A reload that takes credentials away ends what they allowed: a token
// removed, a password changed, a token's scopes narrowed. Their bearer
// requests, dashboard sessions and open event streams (by bearer token
// and by session cookie) end within seconds; those of a credential that
// stays go on.
func TestRevocationEndsSessionsAndStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := freeAddr(t)
	base := "http://" + addr
	const (
		stayTok   = "stay-token-0123456789abc"
		goneTok   = "gone-token-0123456789abc"
		narrowTok = "narrow-token-0123456789ab"
		oldPass   = "correct horse battery staple"
	)
	stay := tokenLine{"stay", "read", stayTok}
	narrowed := tokenLine{"narrowed", "read", narrowTok}
	tokens := e.writeTokens(t, stay, tokenLine{"gone", "read", goneTok},
		tokenLine{"narrowed", "admin", narrowTok}, tokenLine{"alice", "admin", hashPassword(t, oldPass)})
	e.writeConfig(t, e.configText("", httpTable(addr, tokens, "")))
	d := e.start(t)

	plain := &http.Client{}
	events := base + "/v1/events?follow=true"
	stayBySession := loggedIn(t, base, url.Values{"secret": {stayTok}})
	goneBySession := loggedIn(t, base, url.Values{"secret": {goneTok}})
	narrowBySession := loggedIn(t, base, url.Values{"secret": {narrowTok}})
	alice := loggedIn(t, base, url.Values{"name": {"alice"}, "secret": {oldPass}})

	goneBearer := openEventStream(t, plain, events, goneTok)
	goneCookie := openEventStream(t, goneBySession, events, "")
	narrowBearer := openEventStream(t, plain, events, narrowTok)
	aliceCookie := openEventStream(t, alice, events, "")
	stayBearer := openEventStream(t, plain, events, stayTok)
	stayCookie := openEventStream(t, stayBySession, events, "")

	// gone is removed, narrowed loses admin, alice's password changes.
	e.writeTokens(t, stay, narrowed, tokenLine{"alice", "admin", hashPassword(t, "another horse battery staple")})
	asked := time.Now()
	if r := e.kilnctl(t, "reload"); r.code != 0 {
		t.Fatalf("kilnctl reload: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	reloaded := time.Now()
	for name, s := range map[string]*eventStream{
		"gone's stream by bearer token": goneBearer, "gone's stream by session": goneCookie,
		"narrowed's stream by bearer token": narrowBearer, "alice's stream by session": aliceCookie,
	} {
		if !s.endsWithin(5 * time.Second) {
			t.Errorf("%s is still open 5 s after the reload", name)
		}
	}
	t.Logf("kilnctl reload took %v; the revoked streams had ended %v after it answered",
		reloaded.Sub(asked).Round(time.Millisecond), time.Since(reloaded).Round(time.Millisecond))

	resp := tcpRequest(t, plain, "GET", base+"/v1/status", goneTok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v1/status with the removed token: %d, want 401", resp.StatusCode)
	}
	for name, c := range map[string]*http.Client{"gone": goneBySession, "narrowed": narrowBySession, "alice": alice} {
		if code, _ := getBody(t, c, base+"/ui/"); code == http.StatusOK {
			t.Errorf("GET /ui/ with the session of %s: 200 after its credential changed", name)
		}
		if code, _ := getBody(t, c, base+"/v1/status"); code != http.StatusUnauthorized {
			t.Errorf("GET /v1/status with the session of %s: %d, want 401", name, code)
		}
	}
	// The narrowed token itself still reads.
	resp = tcpRequest(t, plain, "GET", base+"/v1/status", narrowTok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/status with the narrowed token: %d, want 200", resp.StatusCode)
	}

	// What stays goes on: its session reads, its streams get the next job's
	// events.
	for _, p := range []string{"/ui/", "/v1/status"} {
		if code, _ := getBody(t, stayBySession, base+p); code != http.StatusOK {
			t.Errorf("GET %s with the session of a credential that stays: %d", p, code)
		}
	}
	e.submitNoops(t, "images", 1)
	if !stayBearer.receivesJobEvent(10 * time.Second) {
		t.Error("the stream by a token that stays got no event after the reload")
	}
	if !stayCookie.receivesJobEvent(10 * time.Second) {
		t.Error("the stream by a session that stays got no event after the reload")
	}
	if !strings.Contains(d.stderr.String(), "token_name=gone") {
		t.Errorf("the revocation of gone is not logged:\n%s", d.stderr.String())
	}
}

// A tokens file that cannot be read or parsed makes the whole reload
// fail: kilnctl reload exits non-zero and says why, the running config
// stays (the new queue does not appear), and the old tokens still work.
func TestRevocationRefusedTokensFileFailsReload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := freeAddr(t)
	const tok = "ops-token-0123456789abcd"
	tokens := e.writeTokens(t, tokenLine{"ops", "read", tok})
	e.writeConfig(t, e.configText("", httpTable(addr, tokens, "")))
	d := e.start(t)
	withQueue := e.configText("", httpTable(addr, tokens, "")+"\n[queues.extra]\nconcurrency = 1\n")
	e.writeConfig(t, withQueue)

	tokenWorks := func(when string) {
		t.Helper()
		resp := tcpRequest(t, &http.Client{}, "GET", "http://"+addr+"/v1/status", tok)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: the old token gets %d, want 200", when, resp.StatusCode)
		}
	}
	noExtraQueue := func(when string) {
		t.Helper()
		st, err := e.client().Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := st.Queues["extra"]; ok {
			t.Fatalf("%s: the refused config's queue is in effect", when)
		}
	}

	if err := os.Remove(tokens); err != nil {
		t.Fatal(err)
	}
	r := e.kilnctl(t, "reload")
	t.Logf("tokens file deleted: kilnctl reload exit %d: %s%s", r.code, r.stdout, r.stderr)
	if r.code == 0 || !strings.Contains(r.stderr, tokens) || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("tokens file deleted: kilnctl reload exit %d, stderr %q; want non-zero naming the file and why", r.code, r.stderr)
	}
	tokenWorks("after the deleted tokens file")
	noExtraQueue("after the deleted tokens file")

	if err := os.WriteFile(tokens, []byte("ops read\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.kilnctl(t, "reload")
	t.Logf("tokens file unparsable: kilnctl reload exit %d: %s%s", r.code, r.stdout, r.stderr)
	if r.code == 0 || !strings.Contains(r.stderr, tokens+":1:") {
		t.Errorf("unparsable tokens file: kilnctl reload exit %d, stderr %q; want non-zero naming file:line", r.code, r.stderr)
	}
	tokenWorks("after the unparsable tokens file")
	noExtraQueue("after the unparsable tokens file")
	if strings.Contains(d.stderr.String(), "the previous tokens stay in effect") {
		t.Error("a refused tokens file was logged as a reload that went through")
	}

	// Fixed, the same reload goes through whole.
	e.writeTokens(t, tokenLine{"ops", "read", tok})
	if r := e.kilnctl(t, "reload"); r.code != 0 {
		t.Fatalf("reload with the tokens file fixed: exit %d: %s", r.code, r.stderr)
	}
	st, err := e.client().Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Queues["extra"]; !ok {
		t.Error("the reload with the tokens file fixed did not apply the config")
	}
	tokenWorks("after the fixed reload")
}
