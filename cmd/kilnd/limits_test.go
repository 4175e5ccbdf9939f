package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"kiln/api"
)

// These tests hold kilnd's listeners to [limits]: each one plays a client
// that would, without the limits, take the daemon's descriptors, memory,
// log or shutdown. They are not parallel: the flood needs the machine's
// file descriptors and CPU to itself, and the others measure time.

const limitsToken = "limits-admin-token-abcdefghijkl"

// limitsEnv is an env with a TCP listener (an admin token) and the given
// [limits] table.
func limitsEnv(t *testing.T, limits string) (*env, string) {
	t.Helper()
	e := newEnv(t)
	addr := freeAddr(t)
	tokens := e.writeTokens(t, tokenLine{"ops", "admin", limitsToken})
	// Info, not debug: the flood tests count log lines.
	logTable := "[log]\ntarget = \"stderr\"\nlevel = \"info\"\n"
	e.writeConfig(t, e.configText(logTable, httpTable(addr, tokens, "")+"\n[limits]\n"+limits))
	return e, addr
}

// procStatus reads a process's resident memory (KiB) and its open file
// descriptors from /proc.
func procStatus(t *testing.T, pid int) (rssKiB int, fds int) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^VmRSS:\s+(\d+) kB`).FindSubmatch(status); m != nil {
		rssKiB, _ = strconv.Atoi(string(m[1]))
	}
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return rssKiB, len(entries)
}

// fileLimit raises this process's descriptor limit as far as it may go,
// up to 65536, before kilnd is started (it inherits it), and returns it.
func fileLimit(t *testing.T) int {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	want := syscall.Rlimit{Cur: 65536, Max: max(rl.Max, 65536)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Without the privilege to raise the hard limit, up to it.
		want = syscall.Rlimit{Cur: rl.Max, Max: rl.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			t.Fatal(err)
		}
	}
	return int(want.Cur)
}

// timedStatus runs kilnctl status over the socket and returns how long it
// took; it fails the test if the command fails.
func (e *env) timedStatus(t *testing.T) time.Duration {
	t.Helper()
	t0 := time.Now()
	if r := e.kilnctl(t, "status"); r.code != 0 {
		t.Fatalf("kilnctl status: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	return time.Since(t0)
}

// 20,000 connections to the TCP listener that send nothing, from 160
// client addresses (each under the per-address cap, so that the total cap
// is the one met): kilnd holds at most max_connections of them and closes
// the rest as they come, its descriptors and memory stay bounded, and
// kilnctl status over the socket answers within a second throughout.
func TestLimitsConnectionFloodLeavesTheSocketServed(t *testing.T) {
	limit := fileLimit(t)
	e, addr := limitsEnv(t, "") // the default limits: 1024 in all, 128 per address
	d := e.start(t)
	pid := d.cmd.Process.Pid
	rss0, fds0 := procStatus(t, pid)
	idle := e.timedStatus(t)

	const attempts, addresses, dialers = 20000, 160, 8
	// This process holds the client side of every connection kilnd keeps:
	// past this many, kilnd is keeping them all and the flood stops short
	// of the test's own descriptor limit.
	maxHeld := int64(limit - 1000)
	var held, closedByKilnd, dialFailed atomic.Int64
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	var reapers sync.WaitGroup
	// Each connection sends nothing and waits for kilnd to close it.
	reap := func(c net.Conn) {
		defer reapers.Done()
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				closedByKilnd.Add(1)
			}
		}
		mu.Lock()
		delete(open, c)
		mu.Unlock()
		c.Close()
		held.Add(-1)
	}
	var next atomic.Int64
	var peakRSS, peakFDs atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(30 * time.Second)
	for w := 0; w < dialers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= attempts || time.Now().After(deadline) || held.Load() >= maxHeld {
					return
				}
				local := &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(10+i%addresses))}
				c, err := (&net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}).Dial("tcp", addr)
				if err != nil {
					dialFailed.Add(1)
					continue
				}
				held.Add(1)
				mu.Lock()
				open[c] = true
				mu.Unlock()
				reapers.Add(1)
				go reap(c)
			}
		}()
	}
	dialed := make(chan struct{})
	go func() { wg.Wait(); close(dialed) }()

	// The socket's answer to status, timed as kilnd gives it, and kilnctl
	// status itself, whose time includes starting a process on a machine
	// the flood keeps busy.
	var worst, worstCLI time.Duration
	statuses := 0
	for done := false; !done; {
		select {
		case <-dialed:
			done = true
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t0 := time.Now()
		_, err := e.client().Status(ctx)
		took := time.Since(t0)
		cancel()
		if err != nil {
			t.Fatalf("status over the socket during the flood: %v", err)
		}
		worst = max(worst, took)
		worstCLI = max(worstCLI, e.timedStatus(t))
		statuses++
		rss, fds := procStatus(t, pid)
		if int64(rss) > peakRSS.Load() {
			peakRSS.Store(int64(rss))
		}
		if int64(fds) > peakFDs.Load() {
			peakFDs.Store(int64(fds))
		}
	}
	heldAtEnd := held.Load()
	rss1, fds1 := procStatus(t, pid)
	mu.Lock()
	for c := range open {
		c.SetReadDeadline(time.Now())
	}
	mu.Unlock()
	reapers.Wait()
	refused := closedByKilnd.Load()
	t.Logf("%d connection attempts (%d failed to dial) from %d addresses: kilnd closed %d at once, %d were open at the end; "+
		"kilnd fds %d before, peak %d, %d at the end; RSS %d MiB before, peak %d MiB, %d MiB at the end; "+
		"status over the socket answered %d times, the slowest in %v; kilnctl status took at most %v (%v before the flood)",
		min(next.Load(), attempts), dialFailed.Load(), addresses, refused, heldAtEnd, fds0, peakFDs.Load(), fds1,
		rss0>>10, peakRSS.Load()>>10, rss1>>10, statuses, worst.Round(time.Millisecond), worstCLI.Round(time.Millisecond), idle.Round(time.Millisecond))

	if n := next.Load(); n < attempts {
		t.Errorf("the flood stopped after %d attempts with %d connections held: kilnd keeps every connection", n, heldAtEnd)
	}
	if worst > time.Second {
		t.Errorf("status over the socket took %v during the flood; want under 1s", worst)
	}
	// kilnctl's own start is what a busy machine slows: a margin for it.
	if worstCLI > idle+2*time.Second {
		t.Errorf("kilnctl status took %v during the flood, %v before it", worstCLI, idle)
	}
	if peak := peakFDs.Load(); peak > int64(fds0+1024+64) {
		t.Errorf("kilnd had %d descriptors open at the peak, %d before: over max_connections (1024)", peak, fds0)
	}
	if grew := peakRSS.Load() - int64(rss0); grew > 150<<10 {
		t.Errorf("kilnd's RSS grew by %d MiB during the flood; want it bounded", grew>>10)
	}
	if refused < attempts-1024-dialFailed.Load() {
		t.Errorf("kilnd closed only %d of %d connections at once", refused, attempts)
	}
	d.waitLog(t, "http connection refused: too many open connections")
	// Served again once kilnd has seen the flood's connections go.
	deadline = time.Now().Add(20 * time.Second)
	for {
		c := dialRaw(t, "tcp", addr, nil)
		if code, err := c.status(limitsToken); err == nil && code == http.StatusOK {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the TCP listener does not serve again after the flood")
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not timing
	}
}

// rawConn is one HTTP/1.1 connection whose bytes the test writes itself.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, network, addr string, local net.Addr) *rawConn {
	t.Helper()
	c, err := (&net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}).Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// request writes a request head; token "" sends none.
func (c *rawConn) request(t *testing.T, method, path, token string, headers ...string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: kiln\r\n", method, path)
	if token != "" {
		fmt.Fprintf(&b, "Authorization: Bearer %s\r\n", token)
	}
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := c.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
}

// status asks GET /v1/status and returns the answer's code; an error
// means the connection was closed or did not answer within 5s.
func (c *rawConn) status(token string) (int, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := fmt.Fprintf(c, "GET /v1/status HTTP/1.1\r\nHost: kiln\r\n%s\r\n", auth); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// head reads one answer's head, waiting at most within.
func (c *rawConn) head(t *testing.T, within time.Duration) *http.Response {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", within, err)
	}
	return resp
}

// response reads one answer, waiting at most within, and its body.
func (c *rawConn) response(t *testing.T, within time.Duration) (*http.Response, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", within, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// closedWithin says whether the daemon ends the connection within d, and
// when; bytes it sends first are read and dropped.
func (c *rawConn) closedWithin(d time.Duration) (bool, time.Duration) {
	t0 := time.Now()
	c.SetReadDeadline(t0.Add(d))
	_, err := io.Copy(io.Discard, c.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, time.Since(t0)
	}
	return true, time.Since(t0)
}

// trickle writes one byte every interval until stop, a write fails, or n
// bytes are written.
func trickle(c net.Conn, b byte, n int, interval time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; i < n; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if _, err := c.Write([]byte{b}); err != nil {
			return
		}
	}
}

// A body trickled a byte at a time: with a token it is cut off at
// body_timeout (408, connection closed); without one it is answered 401
// at once, before the body, and closed; on the socket as on TCP. A
// streaming submit whose line never ends is cut off at line_timeout.
func TestLimitsSlowBodiesAreCutOff(t *testing.T) {
	e, addr := limitsEnv(t, "body_timeout = \"2s\"\nline_timeout = \"2s\"\n")
	d := e.start(t)
	const slack = 3 * time.Second
	stop := make(chan struct{})
	var tricklers sync.WaitGroup
	defer func() { close(stop); tricklers.Wait() }()
	slow := func(network, address, token, path, prefix string, headers ...string) (*rawConn, time.Time) {
		c := dialRaw(t, network, address, nil)
		t0 := time.Now()
		c.request(t, "POST", path, token, headers...)
		c.Write([]byte(prefix))
		tricklers.Add(1)
		go func() { defer tricklers.Done(); trickle(c, ' ', 100, 200*time.Millisecond, stop) }()
		return c, t0
	}

	for _, tc := range []struct{ name, network, address, token string }{
		{"tcp with a token", "tcp", addr, limitsToken},
		{"socket", "unix", e.socket, ""},
	} {
		c, t0 := slow(tc.network, tc.address, tc.token, "/v1/jobs", "", "Content-Length: 1000", "Content-Type: application/json")
		resp, body := c.response(t, 2*time.Second+slack)
		took := time.Since(t0)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(body, "limits.body_timeout") {
			t.Errorf("%s: trickled body answered %d %s; want 408 naming limits.body_timeout", tc.name, resp.StatusCode, body)
		}
		closed, _ := c.closedWithin(slack)
		t.Logf("%s: trickled body answered %d after %v, connection closed: %v", tc.name, resp.StatusCode, took.Round(10*time.Millisecond), closed)
		if !closed || took < 2*time.Second-200*time.Millisecond {
			t.Errorf("%s: answered after %v, closed %v; want 408 at body_timeout (2s), then closed", tc.name, took, closed)
		}
	}

	c, t0 := slow("tcp", addr, "", "/v1/jobs", "", "Content-Length: 1000", "Content-Type: application/json")
	resp, _ := c.response(t, slack)
	took := time.Since(t0)
	closed, closedAfter := c.closedWithin(slack)
	t.Logf("tcp without a token: answered %d after %v, closed %v later", resp.StatusCode, took.Round(time.Millisecond), closedAfter.Round(time.Millisecond))
	if resp.StatusCode != http.StatusUnauthorized || took > time.Second || !closed {
		t.Errorf("without a token: %d after %v, closed %v; want 401 at once and the connection closed", resp.StatusCode, took, closed)
	}

	// A streaming submit's line that never ends: one chunk opened, its
	// bytes trickled.
	c, t0 = slow("tcp", addr, limitsToken, api.StreamPath, fmt.Sprintf("%x\r\n{", 1000), "Transfer-Encoding: chunked", "Content-Type: application/x-ndjson")
	resp = c.head(t, slack)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	closed, _ = c.closedWithin(2*time.Second + slack)
	took = time.Since(t0)
	t.Logf("stream with a line that never ends: ended after %v", took.Round(10*time.Millisecond))
	if !closed || took < 2*time.Second-200*time.Millisecond {
		t.Errorf("stream: ended %v after %v; want it cut off at line_timeout (2s)", closed, took)
	}
	d.waitLog(t, "job stream cut off")
}

// One address holds at most max_connections_per_address connections:
// past it a new one is closed at once, while another address is served,
// and a connection that closes makes room again.
func TestLimitsPerAddressCap(t *testing.T) {
	e, addr := limitsEnv(t, "max_connections = 16\nmax_connections_per_address = 4\n")
	d := e.start(t)
	status := func(c *rawConn) (int, error) { return c.status(limitsToken) }
	one := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}
	var kept []*rawConn
	for i := 0; i < 10; i++ {
		c := dialRaw(t, "tcp", addr, one)
		code, err := status(c)
		switch {
		case i < 4 && (err != nil || code != http.StatusOK):
			t.Fatalf("connection %d from 127.0.0.1: %d %v; want served", i, code, err)
		case i >= 4 && err == nil:
			t.Fatalf("connection %d from 127.0.0.1 answered %d; want it closed, 4 are open", i, code)
		}
		if i < 4 {
			kept = append(kept, c)
		}
	}
	other := dialRaw(t, "tcp", addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if code, err := status(other); err != nil || code != http.StatusOK {
		t.Fatalf("127.0.0.2 while 127.0.0.1 is at its cap: %d %v", code, err)
	}
	// The kept ones still work, and closing one makes room.
	for i, c := range kept {
		if code, err := status(c); err != nil || code != http.StatusOK {
			t.Fatalf("kept connection %d: %d %v", i, code, err)
		}
	}
	kept[0].Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialRaw(t, "tcp", addr, one)
		if code, err := status(c); err == nil && code == http.StatusOK {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("no room for 127.0.0.1 after one of its connections closed")
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not timing
	}
	d.waitLog(t, "http connection refused: too many open connections from this address")
	if !strings.Contains(d.stderr.String(), "key=limits.max_connections_per_address") {
		t.Errorf("the refusal does not name its key:\n%s", d.stderr.String())
	}
}

// A keep-alive connection that sends no next request is closed after
// idle_timeout, on TCP and on the socket.
func TestLimitsIdleConnectionsAreClosed(t *testing.T) {
	e, addr := limitsEnv(t, "idle_timeout = \"1s\"\n")
	e.start(t)
	for _, tc := range []struct{ network, address, token string }{{"tcp", addr, limitsToken}, {"unix", e.socket, ""}} {
		c := dialRaw(t, tc.network, tc.address, nil)
		c.request(t, "GET", "/v1/status", tc.token)
		resp, _ := c.response(t, 5*time.Second)
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("%s: %d close=%v; want a kept-alive 200", tc.network, resp.StatusCode, resp.Close)
		}
		closed, after := c.closedWithin(10 * time.Second)
		t.Logf("%s: idle keep-alive connection closed %v after its answer", tc.network, after.Round(10*time.Millisecond))
		if !closed || after < 800*time.Millisecond {
			t.Errorf("%s: closed %v after %v; want closed at idle_timeout (1s)", tc.network, closed, after)
		}
	}
}

// serverSendQueues counts the TCP sockets of a local port with bytes in
// their send queue, from /proc/net/tcp.
func serverSendQueues(t *testing.T, port int) int {
	t.Helper()
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		_, p, _ := strings.Cut(f[1], ":")
		tx, _, _ := strings.Cut(f[4], ":")
		lp, _ := strconv.ParseInt(p, 16, 64)
		q, _ := strconv.ParseInt(tx, 16, 64)
		if int(lp) == port && q > 0 {
			n++
		}
	}
	return n
}

// 50 event-stream clients that never read, each with megabytes of
// events kilnd cannot write: a 51st is refused (max_event_streams), and
// SIGTERM still stops kilnd cleanly within shutdown_timeout.
func TestLimitsEventStreamsThatNeverReadDoNotHoldShutdown(t *testing.T) {
	e, addr := limitsEnv(t, "max_event_streams = 50\n")
	d := e.start(t)
	// 10,000 events of about 170 bytes, 1.7 MB for every subscriber: over
	// ten times what the kernel holds for one whose receive buffer is small
	// and whose segments are small (the daemon's send buffer is sized by
	// them: about 90 KB), so every stream's writes block. The jobs wait an
	// hour: one event each.
	reqs := make([]api.SubmitRequest, 10000)
	for i := range reqs {
		reqs[i] = api.SubmitRequest{Type: "noop", Queue: "images", RunIn: "1h"}
	}
	if _, err := e.client().SubmitBatch(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
	small := &net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_MAXSEG, 536)
		})
	}}
	for i := 0; i < 50; i++ {
		c, err := small.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET /v1/events?since=0 HTTP/1.1\r\nHost: kiln\r\nAuthorization: Bearer %s\r\n\r\n", limitsToken)
	}
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	deadline := time.Now().Add(30 * time.Second)
	for serverSendQueues(t, p) < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of the 50 streams have unsent bytes", serverSendQueues(t, p))
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not timing
	}
	c := dialRaw(t, "tcp", addr, nil)
	c.request(t, "GET", "/v1/events?since=0", limitsToken)
	if resp, body := c.response(t, 5*time.Second); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "limits.max_event_streams") {
		t.Errorf("the 51st subscriber: %d %s; want 503 naming limits.max_event_streams", resp.StatusCode, body)
	}

	t0 := time.Now()
	code := d.stop(t)
	took := time.Since(t0)
	t.Logf("SIGTERM with 50 stuck event streams: exit %d after %v", code, took.Round(10*time.Millisecond))
	if code != 0 || took > 10*time.Second {
		t.Errorf("exit %d after %v; want 0 within shutdown_timeout (10s)", code, took)
	}
	if log := d.stderr.String(); strings.Contains(log, "did not close cleanly") {
		t.Errorf("the shutdown was held up:\n%s", log)
	}
}

// summaryLine is a "refusals since the last summary" line's address and
// count.
var summaryLine = regexp.MustCompile(`msg="refusals since the last summary" remote=(\S+) refused=(\d+)`)

// A flood of refusals from two addresses is logged as the first of each
// and counts, not a line each; the counts add up.
func TestLimitsRefusalFloodIsLoggedInSummary(t *testing.T) {
	e, addr := limitsEnv(t, "refusal_log_interval = \"1s\"\n")
	d := e.start(t)
	const perAddress = 300
	for _, ip := range []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2)} {
		client := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}).DialContext}}
		for i := 0; i < perAddress; i++ {
			resp := tcpRequest(t, client, "GET", "http://"+addr+"/v1/status", "")
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%d", resp.StatusCode)
			}
		}
		client.CloseIdleConnections()
	}
	counted := func() map[string]int {
		n := map[string]int{}
		for _, m := range summaryLine.FindAllStringSubmatch(d.stderr.String(), -1) {
			c, _ := strconv.Atoi(m[2])
			n[m[1]] += c
		}
		return n
	}
	deadline := time.Now().Add(20 * time.Second)
	for n := counted(); n["127.0.0.1"] < perAddress-1 || n["127.0.0.2"] < perAddress-1; n = counted() {
		if time.Now().After(deadline) {
			t.Fatalf("summaries count %v; want %d for each address:\n%s", n, perAddress-1, d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not timing
	}
	log := d.stderr.String()
	full := strings.Count(log, "http request refused: no bearer token")
	summaries := len(summaryLine.FindAllString(log, -1))
	lines := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "refused") {
			lines++
		}
	}
	t.Logf("%d refusals from 2 addresses: %d log lines (%d in full, %d summaries), counts %v", 2*perAddress, lines, full, summaries, counted())
	if n := counted(); n["127.0.0.1"] != perAddress-1 || n["127.0.0.2"] != perAddress-1 {
		t.Errorf("summaries count %v; want %d for each address", n, perAddress-1)
	}
	// Each address's first in full, and a summary a second while it lasts.
	if lines > 30 {
		t.Errorf("%d log lines for %d refusals; want a few:\n%s", lines, 2*perAddress, log)
	}
}

// A single submit's body is bounded by max_submit_body: announced larger,
// it is answered 413 naming the key at once, unread, and the connection
// closed; sent chunked, it is cut at the cap. 16 at once of 8 MiB each
// cost kilnd no memory to speak of.
func TestLimitsSingleSubmitBodyCap(t *testing.T) {
	e, _ := limitsEnv(t, "")
	d := e.start(t)
	c := dialRaw(t, "unix", e.socket, nil)
	t0 := time.Now()
	c.request(t, "POST", "/v1/jobs", "", "Content-Length: 8388608", "Content-Type: application/json")
	c.Write([]byte(`{"type":"noop","payload":"`))
	resp, body := c.response(t, 5*time.Second)
	took := time.Since(t0)
	closed, _ := c.closedWithin(5 * time.Second)
	t.Logf("8 MiB single submit announced: %d after %v: %s", resp.StatusCode, took.Round(time.Millisecond), strings.TrimSpace(body))
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "limits.max_submit_body") || !strings.Contains(body, "128KiB") || !closed {
		t.Errorf("8 MiB single submit: %d %s, closed %v; want 413 naming limits.max_submit_body (128KiB), closed", resp.StatusCode, body, closed)
	}

	httpc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", e.socket)
	}}}
	// Chunked, so that no length is announced.
	big := `{"type":"noop","payload":{"pad":"` + strings.Repeat("x", 200<<10) + `"}}`
	req, _ := http.NewRequest("POST", "http://kiln/v1/jobs", io.MultiReader(strings.NewReader(big)))
	r2, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if r2.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b2), "limits.max_submit_body") {
		t.Errorf("200 KiB chunked single submit: %d %s; want 413", r2.StatusCode, b2)
	}
	// A batch of the same size is fine: its cap is max_batch_body.
	batch := `{"jobs":[{"type":"noop","payload":{"pad":"` + strings.Repeat("x", 60<<10) + `"}},{"type":"noop","payload":{"pad":"` + strings.Repeat("y", 60<<10) + `"}},{"type":"noop","payload":{"pad":"` + strings.Repeat("z", 60<<10) + `"}}]}`
	if r3, err := httpc.Post("http://kiln/v1/jobs/batch", "application/json", strings.NewReader(batch)); err != nil || r3.StatusCode != http.StatusCreated {
		t.Fatalf("a 180 KiB batch: %v %v", r3, err)
	}

	rss0, _ := procStatus(t, d.cmd.Process.Pid)
	payload := bytes.Repeat([]byte("x"), 8<<20-64)
	var wg sync.WaitGroup
	codes := make([]int, 16)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := append(append([]byte(`{"type":"noop","payload":{"pad":"`), payload...), `"}}`...)
			resp, err := httpc.Post("http://kiln/v1/jobs", "application/json", bytes.NewReader(body))
			if err != nil {
				return // the daemon may close before the client has sent it all
			}
			codes[i] = resp.StatusCode
			resp.Body.Close()
		}()
	}
	wg.Wait()
	rss1, _ := procStatus(t, d.cmd.Process.Pid)
	t.Logf("16 parallel 8 MiB single submits: answers %v; kilnd RSS %d MiB before, %d MiB after", codes, rss0>>10, rss1>>10)
	for _, code := range codes {
		if code != 0 && code != http.StatusRequestEntityTooLarge {
			t.Errorf("an 8 MiB single submit answered %d; want 413", code)
		}
	}
	if grew := rss1 - rss0; grew > 32<<10 {
		t.Errorf("kilnd's RSS grew by %d MiB; the bodies were read", grew>>10)
	}
}

// GET /v1/jobs pages: a limit over max_list_page is cut to it and the
// answer names the next page; following the pages lists every job once,
// and kilnctl jobs follows them too.
func TestLimitsListPages(t *testing.T) {
	e, _ := limitsEnv(t, "max_list_page = 500\n")
	d := e.start(t)
	const jobs = 1200
	want := map[string]bool{}
	for b := 0; b < jobs/400; b++ {
		reqs := make([]api.SubmitRequest, 400)
		for i := range reqs {
			reqs[i] = api.SubmitRequest{Type: "noop", Queue: "images", RunIn: "1h"}
		}
		sub, err := e.client().SubmitBatch(context.Background(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range sub {
			want[j.ID] = true
		}
	}
	httpc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", e.socket)
	}}}
	seen := map[string]bool{}
	after, pages := "", 0
	for {
		resp, err := httpc.Get("http://kiln/v1/jobs?limit=100000&after=" + after)
		if err != nil {
			t.Fatal(err)
		}
		var page api.JobList
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("page %d: %d %v", pages, resp.StatusCode, err)
		}
		pages++
		if len(page.Jobs) > 500 {
			t.Fatalf("page %d holds %d jobs; max_list_page is 500", pages, len(page.Jobs))
		}
		for _, j := range page.Jobs {
			if seen[j.ID] {
				t.Fatalf("job %s listed twice", j.ID)
			}
			seen[j.ID] = true
		}
		if page.Next == "" {
			break
		}
		if pages > 10 {
			t.Fatal("more pages than jobs allow")
		}
		after = page.Next
	}
	if len(seen) != jobs || pages != 3 {
		t.Fatalf("%d pages listed %d jobs; want 3 pages of the %d", pages, len(seen), jobs)
	}
	for id := range want {
		if !seen[id] {
			t.Fatalf("job %s never listed", id)
		}
	}
	if resp, err := httpc.Get("http://kiln/v1/jobs?after=bm90LWEtY3Vyc29y"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a made-up cursor: %v %v; want 400", resp, err)
	}
	r := e.kilnctl(t, "jobs", "-json", "-limit", "5000")
	if n := strings.Count(r.stdout, "\n"); r.code != 0 || n != jobs {
		t.Fatalf("kilnctl jobs -limit 5000: exit %d, %d lines; want %d: %s", r.code, n, jobs, r.stderr)
	}
	if r := e.kilnctl(t, "jobs", "-json", "-limit", "700"); strings.Count(r.stdout, "\n") != 700 {
		t.Fatalf("kilnctl jobs -limit 700: %d lines", strings.Count(r.stdout, "\n"))
	}

	rss0, _ := procStatus(t, d.cmd.Process.Pid)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := httpc.Get("http://kiln/v1/jobs?limit=100000"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	rss1, _ := procStatus(t, d.cmd.Process.Pid)
	t.Logf("%d jobs listed in %d pages; 8 parallel limit=100000: RSS %d MiB before, %d MiB after", jobs, pages, rss0>>10, rss1>>10)
}
