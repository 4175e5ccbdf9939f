package daemon

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"kiln/daemon/dashboard"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var someCredential = &credential{name: "alice"}

func refuse() *credential { return nil }
func accept() *credential { return someCredential }

// retryAfter is the wait of a RetryLater, or 0 for any other answer.
func retryAfter(err error) (time.Duration, bool) {
	var later *dashboard.RetryLater
	if errors.As(err, &later) {
		return later.After, later.Busy
	}
	return 0, false
}

// After loginFreeFailures failures an address waits, then a name waits
// from any address; the wait doubles with each failure past the free ones
// up to its bound; attempts while waiting are not checked and do not
// count; a success clears the record.
func TestLoginLimiterBacksOff(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := &loginLimiter{now: clock.now}
	for i := range loginFreeFailures {
		if _, err := l.attempt("alice", "192.0.2.1:4000", refuse); !errors.Is(err, dashboard.ErrLoginRefused) {
			t.Fatalf("failure %d: %v, want the refusal", i+1, err)
		}
	}
	checked := false
	_, err := l.attempt("alice", "192.0.2.1:4001", func() *credential { checked = true; return nil })
	if wait, busy := retryAfter(err); wait != loginBackoffFirst || busy || checked {
		t.Fatalf("attempt past the free failures: %v (wait %v, checked %v), want a wait of %v without a check", err, wait, checked, loginBackoffFirst)
	}
	if _, err := l.attempt("bob", "192.0.2.1:4002", accept); err == nil {
		t.Fatal("another name from the backing off address was checked")
	}
	if _, err := l.attempt("alice", "198.51.100.7:4000", accept); err == nil {
		t.Fatal("the backing off name from another address was checked")
	}
	if _, err := l.attempt("bob", "198.51.100.7:4000", accept); err != nil {
		t.Fatalf("another name from another address: %v", err)
	}
	clock.advance(loginBackoffFirst)
	if _, err := l.attempt("alice", "192.0.2.1:4000", refuse); !errors.Is(err, dashboard.ErrLoginRefused) {
		t.Fatalf("after the wait: %v, want a check", err)
	}
	if wait, _ := retryAfter(must(l.attempt("alice", "192.0.2.1:4000", accept))); wait != 2*loginBackoffFirst {
		t.Fatalf("after one more failure the wait is %v, want %v", wait, 2*loginBackoffFirst)
	}
	for range 30 {
		clock.advance(loginBackoffMax)
		l.attempt("alice", "192.0.2.1:4000", refuse)
	}
	if wait, _ := retryAfter(must(l.attempt("alice", "192.0.2.1:4000", accept))); wait != loginBackoffMax {
		t.Fatalf("after many failures the wait is %v, want the bound %v", wait, loginBackoffMax)
	}
	clock.advance(loginBackoffMax)
	if _, err := l.attempt("alice", "192.0.2.1:4000", accept); err != nil {
		t.Fatalf("the right password after the wait: %v", err)
	}
	if _, err := l.attempt("alice", "192.0.2.1:4000", refuse); !errors.Is(err, dashboard.ErrLoginRefused) {
		t.Fatalf("a success did not clear the record: %v", err)
	}
	// A record not failed for loginForgetAfter starts afresh.
	for range loginFreeFailures + 3 {
		clock.advance(loginBackoffMax)
		l.attempt("carol", "203.0.113.9:1", refuse)
	}
	clock.advance(loginForgetAfter + time.Second)
	if _, err := l.attempt("carol", "203.0.113.9:1", refuse); !errors.Is(err, dashboard.ErrLoginRefused) {
		t.Fatalf("a forgotten record: %v", err)
	}
	if _, err := l.attempt("carol", "203.0.113.9:1", refuse); !errors.Is(err, dashboard.ErrLoginRefused) {
		t.Fatalf("a forgotten record counts from the start again: %v", err)
	}
}

func must(_ *credential, err error) error { return err }

// The addresses of one IPv6 /64 share a record, as one host commonly holds
// the whole prefix; IPv4 addresses in IPv6 form are the IPv4 address.
func TestLoginLimiterKeysAddresses(t *testing.T) {
	t.Parallel()
	l := &loginLimiter{}
	for _, c := range []struct{ a, b string }{
		{"[2001:db8:1:2::1]:80", "[2001:db8:1:2:ffff::9]:81"},
		{"[::ffff:192.0.2.1]:80", "192.0.2.1:81"},
	} {
		if ka, kb := l.keys("", c.a), l.keys("", c.b); ka[0] != kb[0] {
			t.Errorf("%s is %q, %s is %q: want one record", c.a, ka[0], c.b, kb[0])
		}
	}
	if ka, kb := l.keys("", "[2001:db8:1:2::1]:80"), l.keys("", "[2001:db8:1:3::1]:80"); ka[0] == kb[0] {
		t.Errorf("two /64s share the record %q", ka[0])
	}
}

// No more hashes run at once than there are slots: the attempts past them
// are answered at once, busy, without a check.
func TestLoginLimiterBoundsHashes(t *testing.T) {
	t.Parallel()
	const slots = 2
	l := &loginLimiter{slotCount: slots}
	release := make(chan struct{})
	started := make(chan struct{}, slots)
	var wg sync.WaitGroup
	for i := range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.attempt(fmt.Sprintf("user%d", i), fmt.Sprintf("192.0.2.%d:1", i+1), func() *credential {
				started <- struct{}{}
				<-release
				return nil
			})
		}()
	}
	for range slots {
		<-started
	}
	checked := false
	_, err := l.attempt("another", "198.51.100.1:1", func() *credential { checked = true; return nil })
	if wait, busy := retryAfter(err); !busy || wait != loginBusyRetry || checked {
		t.Fatalf("an attempt with every slot taken: %v, checked %v; want busy, retry after %v", err, checked, loginBusyRetry)
	}
	// A token login hashes no password and needs no slot.
	if _, err := l.attempt("", "198.51.100.1:1", accept); err != nil {
		t.Fatalf("a token login with every slot taken: %v", err)
	}
	close(release)
	wg.Wait()
	if _, err := l.attempt("another", "198.51.100.1:1", accept); err != nil {
		t.Fatalf("an attempt once the slots are free: %v", err)
	}
}

// The records are bounded: past loginMaxTracked the oldest is forgotten.
func TestLoginLimiterBoundsRecords(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	l := &loginLimiter{now: clock.now}
	for i := range loginMaxTracked + 100 {
		clock.advance(time.Millisecond)
		l.attempt("", fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255), refuse)
	}
	if n := len(l.failures); n > loginMaxTracked {
		t.Fatalf("%d records, want at most %d", n, loginMaxTracked)
	}
	if _, ok := l.failures["addr 10.0.0.0"]; ok {
		t.Fatal("the oldest record is still there")
	}
}

// A name is logged as it is only if it is a configured name.
func TestLoginLimiterLogAttr(t *testing.T) {
	t.Parallel()
	set := writeTokensFile(t, "grafana read grafana-token-0123456789\n")
	l := &loginLimiter{}
	if a := l.logAttr("grafana", set); a.Key != "name" || a.Value.String() != "grafana" {
		t.Errorf("a configured name is logged as %v", a)
	}
	a := l.logAttr("grafana-token-0123456789", set)
	if a.Key != "name_hash" || strings.Contains(a.Value.String(), "grafana") || len(a.Value.String()) != 12 {
		t.Errorf("a token in the name field is logged as %v", a)
	}
	if b := l.logAttr("grafana-token-0123456789", set); b.Value.String() != a.Value.String() {
		t.Errorf("one name, two hashes: %v and %v", a, b)
	}
	if a := l.logAttr("", set); a.Key != "" {
		t.Errorf("an empty name is logged as %v", a)
	}
}
