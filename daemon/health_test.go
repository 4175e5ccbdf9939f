package daemon

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kiln/worker"
)

// healthReadToken is the read token of the tests' TCP listener.
const healthReadToken = "read-token-0123456789"

// setupServerTCP starts a daemon as setupServer does, with the TCP
// listener open on a loopback port, and returns the listener's URL.
func setupServerTCP(t *testing.T) (*serverBundle, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	b := setupServerWith(t, func(dir string) string {
		tokens := filepath.Join(dir, "tokens")
		if err := os.WriteFile(tokens, []byte("monitor read "+healthReadToken+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return serverConfig(dir, "\n[http]\nlisten = \""+addr+"\"\ntokens = \""+tokens+"\"\n"+
			"\n[schedules.hourly]\nevery = \"1h\"\ntype = \"noop\"\npayload = { x = 1 }\n")
	}, testPlugins())
	t.Cleanup(func() { b.d.http.shutdown(context.Background()) })
	return b, "http://" + addr
}

// readyBeat is the beat of the tests that want the loop to stay ready: its
// bound, five beats, leaves room for a loaded machine's scheduler.
const readyBeat = 200 * time.Millisecond

// runLoop runs the daemon's real dispatch loop with the heartbeat serve
// gives it, beating every `every`, until the returned stop is called.
func runLoop(t *testing.T, d *daemon, every time.Duration) (stop func()) {
	t.Helper()
	d.beat.every = every
	beat, beatEvery := d.beat.heartbeat(0, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.pool.Run(ctx, worker.RunOptions{Heartbeat: beat, HeartbeatEvery: beatEvery}) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("dispatch loop: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// get answers method url with an optional bearer token, over c.
func get(t *testing.T, c *http.Client, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
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
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitHealth asks url until it answers code, and returns the body.
func waitHealth(t *testing.T, c *http.Client, url string, code int, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, body := get(t, c, "GET", url, "")
		if got == code {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %q, not %d within %s", url, got, body, code, within)
		}
		time.Sleep(10 * time.Millisecond) // polling the server under test
	}
}

// The health checks answer on the socket and on TCP without a token, and
// only they: every other route on TCP still wants one. /readyz says why it
// is not ready in full on the socket, in one word on TCP.
func TestHealth_SocketAndTCPWithoutToken(t *testing.T) {
	t.Parallel()
	b, tcp := setupServerTCP(t)
	c := &http.Client{}

	for _, u := range []struct {
		c   *http.Client
		url string
	}{{b.http, "http://kiln"}, {c, tcp}} {
		if code, body := get(t, u.c, "GET", u.url+"/healthz", ""); code != http.StatusOK || body != "ok\n" {
			t.Errorf("GET %s/healthz: %d %q, want 200 ok", u.url, code, body)
		}
		if code, body := get(t, u.c, "HEAD", u.url+"/healthz", ""); code != http.StatusOK || body != "" {
			t.Errorf("HEAD %s/healthz: %d %q, want 200 without a body", u.url, code, body)
		}
	}

	// The loop has not run yet.
	if code, body := get(t, b.http, "GET", "http://kiln/readyz", ""); code != http.StatusServiceUnavailable || body != "not ready: dispatch: the dispatch loop has not started yet\n" {
		t.Errorf("socket /readyz before the loop: %d %q", code, body)
	}
	if code, body := get(t, c, "GET", tcp+"/readyz", ""); code != http.StatusServiceUnavailable || body != "not ready: dispatch\n" {
		t.Errorf("TCP /readyz before the loop: %d %q, want 503 \"not ready: dispatch\"", code, body)
	}

	runLoop(t, b.d, readyBeat)
	waitHealth(t, b.http, "http://kiln/readyz", http.StatusOK, 10*time.Second)
	if code, body := get(t, c, "GET", tcp+"/readyz", ""); code != http.StatusOK || body != "ok\n" {
		t.Errorf("TCP /readyz with the loop running: %d %q", code, body)
	}
	if code, _ := get(t, c, "HEAD", tcp+"/readyz", ""); code != http.StatusOK {
		t.Errorf("HEAD TCP /readyz: %d", code)
	}

	// Everything else on TCP still needs a token: other GETs, the API's
	// document, the metrics, and any other method on the health paths.
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/status"}, {"GET", "/v1/openapi.json"}, {"GET", "/metrics"}, {"GET", "/v1/jobs"},
		{"POST", "/healthz"}, {"DELETE", "/readyz"}, {"GET", "/healthz/"}, {"GET", "/readyz/x"},
	} {
		if code, body := get(t, c, r.method, tcp+r.path, ""); code != http.StatusUnauthorized {
			t.Errorf("TCP %s %s without a token: %d %q, want 401", r.method, r.path, code, body)
		}
	}
	if code, body := get(t, c, "GET", tcp+"/v1/openapi.json", healthReadToken); code != http.StatusOK || !strings.Contains(body, `"openapi"`) {
		t.Errorf("TCP GET /v1/openapi.json with a read token: %d %.80q", code, body)
	}

	b.d.stopping.Store(true)
	if code, body := get(t, c, "GET", tcp+"/readyz", ""); code != http.StatusServiceUnavailable || body != "not ready: stopping\n" {
		t.Errorf("TCP /readyz while stopping: %d %q", code, body)
	}
	if code, body := get(t, b.http, "GET", "http://kiln/healthz", ""); code != http.StatusOK || body != "ok\n" {
		t.Errorf("socket /healthz while stopping: %d %q, want 200: the process still answers", code, body)
	}
}

// A dispatch loop that stops turning makes /readyz 503 once its beat is
// older than the bound, and not before.
func TestHealth_ReadyzGoesUnreadyWhenTheDispatchBeatIsStale(t *testing.T) {
	t.Parallel()
	b, tcp := setupServerTCP(t)
	const every = 20 * time.Millisecond
	stop := runLoop(t, b.d, every)
	waitHealth(t, b.http, "http://kiln/readyz", http.StatusOK, 10*time.Second)

	// The last beat came at most one period (and the scheduler's delay)
	// before the loop was told to stop.
	stopped := time.Now()
	stop()
	body := waitHealth(t, b.http, "http://kiln/readyz", http.StatusServiceUnavailable, 10*time.Second)
	if waited, bound := time.Since(stopped), b.d.beat.staleAfter(); waited < bound-2*every {
		t.Errorf("/readyz went 503 %s after the loop stopped, before the bound of %s", waited, bound)
	}
	if !strings.HasPrefix(body, "not ready: dispatch: the dispatch loop last turned ") || !strings.Contains(body, "(more than 100ms): it is stuck") {
		t.Errorf("socket /readyz with a stale beat: %q", body)
	}
	if code, body := get(t, &http.Client{}, "GET", tcp+"/readyz", ""); code != http.StatusServiceUnavailable || body != "not ready: dispatch\n" {
		t.Errorf("TCP /readyz with a stale beat: %d %q", code, body)
	}
}

// A local store that does not answer makes /readyz 503 "store"; the
// socket says what the read met, TCP names no path.
func TestHealth_ReadyzSaysStoreWhenTheStoreDoesNotAnswer(t *testing.T) {
	t.Parallel()
	b, tcp := setupServerTCP(t)
	stop := runLoop(t, b.d, readyBeat)
	waitHealth(t, b.http, "http://kiln/readyz", http.StatusOK, 10*time.Second)

	// The loop is stopped first: a lease of a closed store never returns.
	// The store is asked before the beat, so that its reason is the one
	// given.
	stop()
	if err := b.d.queue.Close(); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, b.http, "GET", "http://kiln/readyz", "")
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "not ready: store: the queue store does not answer: read queue stats from "+b.d.config().StorePath()) {
		t.Errorf("socket /readyz with the store closed: %d %q", code, body)
	}
	if code, body := get(t, &http.Client{}, "GET", tcp+"/readyz", ""); code != http.StatusServiceUnavailable || body != "not ready: store\n" {
		t.Errorf("TCP /readyz with the store closed: %d %q, want 503 \"not ready: store\" and nothing more", code, body)
	}
}

// Readiness asked by many at once costs one store read at a time, and a
// read that takes too long makes the answer "not ready" in time.
func TestStoreProbeSharesOneReadAndBoundsIt(t *testing.T) {
	t.Parallel()
	var p storeProbe
	var reads atomic.Int32
	release := make(chan struct{})
	stuck := func(context.Context) error {
		reads.Add(1)
		<-release
		return errors.New("disk on fire")
	}
	// Every check below begins and ends while the first read is stuck:
	// each is answered at its timeout, and none starts a second read.
	const askers = 20
	errs := make(chan error, askers)
	start := time.Now()
	for range askers {
		go func() { errs <- p.check(context.Background(), 50*time.Millisecond, stuck) }()
	}
	for range askers {
		if err := <-errs; err == nil || err.Error() != "the queue store did not answer a read within 50ms" {
			t.Errorf("a check of a stuck read: %v", err)
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a stuck read held the checks %s", took)
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("%d checks of a stuck read started %d reads, want 1", askers, n)
	}

	close(release)
	if err := p.check(context.Background(), time.Minute, stuck); err == nil || err.Error() != "disk on fire" {
		t.Errorf("once the read ended: %v, want its error", err)
	}
	// That read is over: the next check reads again, and hears the store.
	if err := p.check(context.Background(), time.Minute, func(context.Context) error { return nil }); err != nil {
		t.Errorf("a check after the stuck read ended: %v, want a read of its own", err)
	}
}

// The beat stamps at each call and feeds the watchdog only when one is
// armed: at the first beat, and again before wd has passed without one.
func TestDispatchBeatFeedsTheWatchdogFromTheBeat(t *testing.T) {
	t.Parallel()
	var b dispatchBeat
	if _, started := b.age(); started {
		t.Fatal("a beat that never beat says it has")
	}
	feeds := 0
	beat, every := b.heartbeat(0, func() { feeds++ })
	if every != dispatchBeatEvery {
		t.Errorf("beat every %s without a watchdog, want %s", every, dispatchBeatEvery)
	}
	beat()
	if age, started := b.age(); !started || age < 0 || age > time.Second {
		t.Errorf("after a beat: age %s, started %v", age, started)
	}
	if feeds != 0 {
		t.Errorf("no watchdog armed, fed %d times", feeds)
	}

	// A watchdog to feed more often than the beat makes the beat faster,
	// and each beat feeds it.
	beat, every = b.heartbeat(100*time.Millisecond, func() { feeds++ })
	if every != 100*time.Millisecond {
		t.Errorf("beat every %s with a 100ms watchdog", every)
	}
	beat()
	beat()
	if feeds != 2 {
		t.Errorf("a 100ms watchdog beaten twice was fed %d times, want 2", feeds)
	}

	// A watchdog of an hour is fed at the first beat, then not at beats
	// a second apart.
	feeds = 0
	beat, every = b.heartbeat(time.Hour, func() { feeds++ })
	if every != dispatchBeatEvery {
		t.Errorf("beat every %s with an hour's watchdog", every)
	}
	beat()
	beat()
	beat()
	if feeds != 1 {
		t.Errorf("an hour's watchdog beaten three times at once was fed %d times, want 1", feeds)
	}
}
