package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// clientFrom is a dashboard client whose connections to 127.0.0.1 come
// from the loopback address ip, so that a test can be several callers.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{
		Jar:           jar,
		Transport:     &http.Transport{DialContext: dialer.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// loginEnv is a kilnd with a password login alice and a token login.
type loginEnv struct {
	*env
	d    *kilnd
	base string
}

const (
	alicePassword = "correct horse battery staple"
	viewerToken   = "viewer-token-0123456789abc"
)

func startLoginEnv(t *testing.T) *loginEnv {
	t.Helper()
	e := newEnv(t)
	addr := freeAddr(t)
	tokens := e.writeTokens(t, tokenLine{"alice", "admin", hashPassword(t, alicePassword)}, tokenLine{"viewer", "read", viewerToken})
	e.writeConfig(t, e.configText("", httpTable(addr, tokens, "")))
	return &loginEnv{env: e, d: e.start(t), base: "http://" + addr}
}

// login posts the login form and returns the answer and how long it took.
func (l *loginEnv) login(t *testing.T, c *http.Client, name, secret string) (*http.Response, time.Duration) {
	t.Helper()
	start := time.Now()
	resp := postForm(t, c, l.base+"/ui/login", url.Values{"name": {name}, "secret": {secret}}, "")
	return resp, time.Since(start)
}

// An unknown name is answered after the same work as a known name with a
// wrong password, so that the answer's timing does not tell which names
// exist. Each attempt comes from its own address, so that no backoff
// stands in the way.
func TestLoginUnknownNameTakesAsLongAsWrongPassword(t *testing.T) {
	t.Parallel()
	l := startLoginEnv(t)
	var known, unknown []time.Duration
	for i := range 4 {
		resp, took := l.login(t, clientFrom(t, fmt.Sprintf("127.0.2.%d", 2*i+1)), "alice", "not alice's password")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a wrong password: %d, want 401", resp.StatusCode)
		}
		known = append(known, took)
		resp, took = l.login(t, clientFrom(t, fmt.Sprintf("127.0.2.%d", 2*i+2)), fmt.Sprintf("nobody%d", i), "not anyone's password")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("an unknown name: %d, want 401", resp.StatusCode)
		}
		unknown = append(unknown, took)
	}
	k, u := slices.Min(known), slices.Min(unknown)
	t.Logf("fastest answer: wrong password %v, unknown name %v", k.Round(10*time.Microsecond), u.Round(10*time.Microsecond))
	// A password hash is hundreds of times the rest of the answer: half
	// of it is a margin no machine's noise reaches, and far above what an
	// answer without a hash takes.
	if u < k/2 {
		t.Fatalf("an unknown name is answered in %v, a wrong password in %v: the names can be told apart", u, k)
	}
}

// After loginFreeFailures wrong passwords, further attempts get 429 with
// Retry-After at once, without a check of the password: from that address
// whatever the name, and for that name whatever the address. Once the
// backoff is over, the right password logs in.
func TestLoginBacksOffAfterFailures(t *testing.T) {
	t.Parallel()
	l := startLoginEnv(t)
	attacker := clientFrom(t, "127.0.3.1")
	const free = 5 // the failures answered before backing off
	for i := range free {
		if resp, _ := l.login(t, attacker, "alice", fmt.Sprintf("guess number %d", i)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	backingOff := func(what string, c *http.Client, name, secret string) int {
		t.Helper()
		resp, took := l.login(t, c, name, secret)
		after, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusTooManyRequests || err != nil || after < 1 {
			t.Fatalf("%s: %d, Retry-After %q; want 429 with a number of seconds", what, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if took > time.Second {
			t.Errorf("%s: the 429 took %v; it must come at once", what, took)
		}
		t.Logf("%s: 429 in %v, Retry-After %d", what, took.Round(10*time.Microsecond), after)
		return after
	}
	backingOff("attempt 6 from the same address", attacker, "alice", "guess number 6")
	backingOff("another name from the same address", attacker, "viewer", "guess number 7")
	backingOff("alice's right password from another address", clientFrom(t, "127.0.3.2"), "alice", alicePassword)
	// Another caller with another name is not held up.
	if resp, _ := l.login(t, clientFrom(t, "127.0.3.3"), "", viewerToken); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a token login from another address during the backoff: %d, want 303", resp.StatusCode)
	}
	// Once the backoff is over, alice logs in.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, _ := l.login(t, clientFrom(t, "127.0.3.2"), "alice", alicePassword)
		if resp.StatusCode == http.StatusSeeOther {
			break
		}
		if resp.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("alice's right password after the backoff: %d, want 303", resp.StatusCode)
		}
		after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		time.Sleep(time.Duration(after) * time.Second) // as the client is told to
	}
}

// percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	return sorted[(len(sorted)-1)*p/100]
}

// 16 callers, each from its own address so that no address's backoff
// holds them, log in for 4 s, with alice's name and a wrong password and
// with unknown names by turns, each coming back 20 ms after an answer
// that did not check its password. kilnd hashes at
// most one password per CPU less one at a time and answers the rest 503
// at once, so that the unix socket's /v1/status stays quick.
func TestLoginParallelKeepsSocketResponsive(t *testing.T) {
	t.Parallel()
	l := startLoginEnv(t)
	const (
		callers  = 16
		attempts = 200 // per caller: more than 4 s of them
		lasting  = 4 * time.Second
		comeBack = 20 * time.Millisecond
	)
	ctx := context.Background()
	idle := measureStatus(t, l.env, 20, time.Time{})
	cpuBefore, began := processCPU(t, l.d.cmd.Process.Pid), time.Now()
	stop := time.Now().Add(lasting)
	var (
		mu    sync.Mutex
		codes = map[int]int{}
		wg    sync.WaitGroup
	)
	for i := range callers {
		c := clientFrom(t, fmt.Sprintf("127.0.4.%d", i+1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < attempts && time.Now().Before(stop); n++ {
				name := "alice"
				if n%2 == 1 {
					name = fmt.Sprintf("nobody-%d-%d", i, n)
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.base+"/ui/login",
					strings.NewReader(url.Values{"name": {name}, "secret": {"not a password"}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := c.Do(req)
				if err != nil {
					t.Errorf("caller %d: %v", i, err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				codes[resp.StatusCode]++
				mu.Unlock()
				if resp.StatusCode != http.StatusUnauthorized {
					// Paces the load so that it lasts the whole time,
					// rather than spending every attempt in the first
					// moment.
					time.Sleep(comeBack)
				}
			}
		}()
	}
	loaded := measureStatus(t, l.env, 1000, stop)
	wg.Wait()
	cpu := float64(processCPU(t, l.d.cmd.Process.Pid)-cpuBefore) / float64(time.Since(began))
	t.Logf("/v1/status over the unix socket: idle p50 %v max %v; during %d parallel logins p50 %v p90 %v max %v (%d samples); login answers %v; kilnd used %.0f%% of one CPU",
		percentile(idle, 50), idle[len(idle)-1], callers, percentile(loaded, 50), percentile(loaded, 90), loaded[len(loaded)-1], len(loaded), codes, 100*cpu)
	if slots := runtime.GOMAXPROCS(0) - 1; slots < callers && codes[http.StatusServiceUnavailable] == 0 {
		t.Errorf("%d parallel logins with %d hash slots: no 503", callers, max(slots, 1))
	}
	// Idle it takes about a millisecond; with every CPU hashing it took
	// hundreds.
	if p90 := percentile(loaded, 90); p90 > 100*time.Millisecond {
		t.Errorf("/v1/status p90 %v during the logins; want under 100 ms", p90)
	}
}

// processCPU is the CPU time a process has used, from /proc (in the
// kernel's clock ticks of 1/100 s).
func processCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: utime and stime are the 12th and 13th.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// measureStatus times GET /v1/status on the unix socket: n times, or
// until the deadline if one is given; the durations come back sorted.
func measureStatus(t *testing.T, e *env, n int, until time.Time) []time.Duration {
	t.Helper()
	var out []time.Duration
	for i := 0; i < n && (until.IsZero() || time.Now().Before(until)); i++ {
		start := time.Now()
		if _, err := e.client().Status(context.Background()); err != nil {
			t.Fatal(err)
		}
		out = append(out, time.Since(start))
		time.Sleep(20 * time.Millisecond) // samples spread over the load, not a wait for it
	}
	slices.Sort(out)
	return out
}

// A token pasted into the name field never reaches the log, nor does any
// name that is not a configured one: those are logged as a short hash. A
// configured name is logged as it is.
func TestLoginNameFieldNotLogged(t *testing.T) {
	t.Parallel()
	l := startLoginEnv(t)
	if resp, _ := l.login(t, clientFrom(t, "127.0.5.1"), viewerToken, "whatever was typed"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a token in the name field: %d, want 401", resp.StatusCode)
	}
	if resp, _ := l.login(t, clientFrom(t, "127.0.5.2"), "alice", "not alice's password"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %d, want 401", resp.StatusCode)
	}
	l.d.waitLog(t, "name=alice")
	log := l.d.stderr.String()
	if strings.Contains(log, viewerToken) {
		t.Fatalf("the log holds the token typed in the name field:\n%s", log)
	}
	if !strings.Contains(log, "name_hash=") {
		t.Fatalf("the refusal of an unknown name is not logged with its hash:\n%s", log)
	}
}
