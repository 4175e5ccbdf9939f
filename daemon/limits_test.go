package daemon

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kiln/e2e/instance"
)

const limitsConfigHead = `
[daemon]
state_dir = "state"
pidfile = "/run/kiln-test/kilnd.pid"
socket = "/run/kiln-test/kiln.sock"

[log]
target = "stderr"
`

// Every bad [limits] value is reported with its key, and the defaults
// hold where the file says nothing.
func TestLimitsConfig(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(writeConfig(t, limitsConfigHead+"[limits]\nmax_list_page = 50\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := defaultLimits()
	want.MaxListPage = 50
	if cfg.Limits != want {
		t.Fatalf("limits %+v; want %+v", cfg.Limits, want)
	}
	_, err = LoadConfig(writeConfig(t, limitsConfigHead+`[limits]
idle_timeout = "0s"
line_timeout = "-1s"
max_connections = 10
max_connections_per_address = 20
socket_max_connections = 0
max_submit_body = "1KiB"
max_list_page = 1000000
refusal_log_interval = "soon"
`))
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("bad limits loaded: %v", err)
	}
	for _, w := range []string{
		"limits.idle_timeout: must be more than 0",
		"limits.line_timeout: must be more than 0",
		"limits.max_connections_per_address: 20 is over max_connections (10)",
		"limits.socket_max_connections: must be at least 1",
		"limits.max_submit_body: must be at least 68KiB",
		"limits.max_list_page: must be at most 100000",
		`limits.refusal_log_interval: invalid duration "soon"`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("errors do not say %q:\n%v", w, err)
		}
	}
	_, err = LoadConfig(writeConfig(t, limitsConfigHead+"[limits]\nmax_submit_body = \"200KiB\"\nmax_batch_body = \"100KiB\"\n"))
	if err == nil || !strings.Contains(err.Error(), "limits.max_batch_body: 100KiB is under max_submit_body (200KiB)") {
		t.Errorf("a batch cap under the single one: %v", err)
	}
}

var summaryRE = regexp.MustCompile(`msg="refusals since the last summary" remote=("[^"]*"|\S+) refused=(\d+)`)

// A flood of refusals is logged as the first of each kind from each
// address, then counts each interval that add up to the rest; a kind quiet
// for an interval is logged in full again; addresses past maxRefusalKeys
// are counted together.
func TestRefusalLogSummarises(t *testing.T) {
	t.Parallel()
	buf := &instance.LogBuffer{}
	l := newRefusalLog(slog.New(slog.NewTextHandler(buf, nil)), func() time.Duration { return 50 * time.Millisecond })
	noToken := refusalKey{remote: "10.0.0.1", msg: "http request refused: no bearer token"}
	scope := refusalKey{remote: "10.0.0.1", msg: "http request refused: token lacks the scope", token: "grafana"}
	other := refusalKey{remote: "10.0.0.2", msg: "http request refused: no bearer token"}
	for i := 0; i < 1000; i++ {
		l.refuse(noToken, "path", "/v1/status")
		l.refuse(other, "path", "/v1/status")
	}
	l.refuse(scope, "scope", "admin")
	l.refuse(scope, "scope", "admin")
	counts := func() map[string]int {
		n := map[string]int{}
		for _, line := range strings.Split(buf.String(), "\n") {
			if m := summaryRE.FindStringSubmatch(line); m != nil {
				c, _ := strconv.Atoi(m[2])
				key := m[1]
				if strings.Contains(line, "token_name=grafana") {
					key += "/grafana"
				}
				n[key] += c
			}
		}
		return n
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s; log:\n%s", what, buf.String())
			}
			time.Sleep(5 * time.Millisecond) // polling a condition, not timing
		}
	}
	waitFor("no summary adds up", func() bool {
		n := counts()
		return n["10.0.0.1"] == 999 && n["10.0.0.2"] == 999 && n["10.0.0.1/grafana"] == 1
	})
	if full := strings.Count(buf.String(), `msg="http request refused: no bearer token"`); full != 2 {
		t.Errorf("%d refusals logged in full; want the first of each address:\n%s", full, buf.String())
	}
	if !strings.Contains(buf.String(), `msg="http request refused: token lacks the scope" remote=10.0.0.1 scope=admin token_name=grafana`) {
		t.Errorf("the first 403 not logged in full with its token's name:\n%s", buf.String())
	}
	// Quiet for an interval, the address is forgotten: its next refusal
	// is a first again.
	waitFor("the quiet keys are never forgotten", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.counts) == 0
	})
	l.refuse(noToken)
	if full := strings.Count(buf.String(), `msg="http request refused: no bearer token"`); full != 3 {
		t.Errorf("a refusal after a quiet interval not logged in full:\n%s", buf.String())
	}
	l.close()

	// Past maxRefusalKeys, addresses are counted together. An interval
	// that no test outlasts keeps every key of the flood in one summary,
	// the one close writes.
	buf = &instance.LogBuffer{}
	l = newRefusalLog(slog.New(slog.NewTextHandler(buf, nil)), func() time.Duration { return time.Hour })
	for i := 0; i < maxRefusalKeys+500; i++ {
		l.refuse(refusalKey{remote: "10.1." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250), msg: "x"})
	}
	l.close()
	if got := counts()[`"(other addresses)"`]; got != 500 {
		t.Errorf("refusals of the addresses past %d counted as %d, want 500:\n%s", maxRefusalKeys, got, buf.String())
	}
}

// The control socket's cap: past it, a connection is closed at once and
// named by its process; one that closes makes room.
func TestConnLimiterCapsTheSocket(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var refused []string
	l := newConnLimiter(ln, func() int { return 3 }, nil, func(remote, why, key string, limit int) {
		mu.Lock()
		defer mu.Unlock()
		refused = append(refused, remote+" "+why+" "+key+" "+strconv.Itoa(limit))
	})
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for i := 0; i < 5; i++ {
		c, err := net.Dial("unix", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	var served []net.Conn
	for i := 0; i < 3; i++ {
		select {
		case c := <-accepted:
			served = append(served, c)
		case <-time.After(10 * time.Second):
			t.Fatal("fewer than 3 connections accepted")
		}
	}
	// The three served hear from the server; the two others see their
	// connection closed.
	for _, c := range served {
		if _, err := c.Write([]byte("!")); err != nil {
			t.Fatal(err)
		}
	}
	closed := 0
	for _, c := range clients {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("a client neither served nor closed")
			}
			closed++
		}
	}
	if closed != 2 {
		t.Fatalf("%d connections closed; want the 2 past the cap", closed)
	}
	mu.Lock()
	if len(refused) != 2 || !strings.HasPrefix(refused[0], "local pid ") || !strings.Contains(refused[0], "too many open connections limits.socket_max_connections 3") {
		t.Errorf("refusals %q; want two naming the client's process and the cap", refused)
	}
	mu.Unlock()
	if n := openConns(l); n != 3 {
		t.Fatalf("%d counted open; want 3", n)
	}
	// The server says one closed: room for the next.
	served[0].Close()
	l.connState(served[0], http.StateClosed)
	l.connState(served[0], http.StateClosed) // said twice, counted once
	c, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("no room after a connection closed")
	}
	if n := openConns(l); n != 3 {
		t.Fatalf("%d counted open; want 3", n)
	}
}

func openConns(l *connLimiter) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.open)
}

// A stream's deadline moves ahead with each line, but not for every line,
// and once the daemon stops it stays at the stop plus grace.
func TestStreamDeadline(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var sets []time.Time
	set := func(at time.Time) error {
		mu.Lock()
		defer mu.Unlock()
		sets = append(sets, at)
		return nil
	}
	stopping, stop := context.WithCancel(context.Background())
	d := newStreamDeadline(stopping, set, 0)
	defer d.stop()
	for i := 0; i < 1000; i++ {
		d.within(time.Minute)
	}
	mu.Lock()
	if len(sets) != 1 {
		t.Errorf("1000 lines within a moment moved the deadline %d times; want once", len(sets))
	}
	mu.Unlock()
	d.within(10 * time.Second) // a shorter timeout moves it back at once
	stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n, last := len(sets), sets[len(sets)-1]
		mu.Unlock()
		if n == 3 {
			if time.Until(last) > time.Second {
				t.Errorf("after the stop the deadline is %v away; want now", time.Until(last))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deadlines set; want 3 (first, shorter, stop)", n)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not timing
	}
	d.within(time.Hour)
	mu.Lock()
	if len(sets) != 3 {
		t.Errorf("the deadline moved after the stop")
	}
	mu.Unlock()
}

// Large bodies take turns: past the limit a reader waits for a turn to be
// given back, or gives up at its wait.
func TestTurns(t *testing.T) {
	t.Parallel()
	var tr turns
	ctx := context.Background()
	if !tr.take(ctx, 1, time.Second) {
		t.Fatal("the first turn not taken")
	}
	if tr.take(ctx, 1, 10*time.Millisecond) {
		t.Fatal("a second turn taken past the limit of 1")
	}
	got := make(chan bool)
	go func() { got <- tr.take(ctx, 1, time.Minute) }()
	tr.give()
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("the waiting reader gave up although a turn came back")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting reader never got the turn given back")
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if tr.take(gone, 1, time.Minute) {
		t.Fatal("a turn taken for a request that is gone")
	}
}
