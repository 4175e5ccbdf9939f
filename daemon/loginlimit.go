package daemon

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"kiln/daemon/dashboard"
)

const (
	// loginFreeFailures is how many failed logins from an address, or for
	// a name, are answered before backing off: enough for typing mistakes.
	loginFreeFailures = 5
	// loginBackoffFirst is the first backoff; each failure past the free
	// ones doubles it, up to loginBackoffMax.
	loginBackoffFirst = 2 * time.Second
	loginBackoffMax   = 5 * time.Minute
	// loginForgetAfter is how long after its last failure an address or a
	// name starts afresh.
	loginForgetAfter = time.Hour
	// loginMaxTracked bounds the addresses and names remembered, so that
	// callers from many addresses cannot grow kilnd without bound; past it
	// the one whose last failure is oldest is forgotten.
	loginMaxTracked = 10_000
	// loginBusyRetry is the Retry-After of a login refused because every
	// hash slot is taken: about one hash's time.
	loginBusyRetry = time.Second
)

// loginLimiter stands between the dashboard's login form and the password
// hashes: an address or a name that failed too often waits (429 with
// Retry-After) before its next attempt is even checked, and only a few
// hashes run at once, the rest being answered 503 at once, so that
// failing logins cannot take the CPU from the daemon's real work (the
// unix socket above all). Ready to use at its zero value.
type loginLimiter struct {
	// slotCount is how many password hashes may run at once; 0 means one
	// per CPU less one, at least one.
	slotCount int
	// now is the clock; nil means time.Now.
	now func() time.Time

	once  sync.Once
	slots chan struct{}
	// nameKey keys the hashes that stand for names in the log and in
	// failures: the same name gives the same hash until kilnd restarts,
	// and a password typed in the name field cannot be guessed back.
	nameKey []byte

	mu       sync.Mutex
	failures map[string]*loginFailures
}

// loginFailures is the record of one address or name.
type loginFailures struct {
	count int
	last  time.Time
}

func (l *loginLimiter) ready() {
	l.once.Do(func() {
		n := l.slotCount
		if n == 0 {
			n = max(runtime.GOMAXPROCS(0)-1, 1)
		}
		l.slots = make(chan struct{}, n)
		if l.now == nil {
			l.now = time.Now
		}
		l.nameKey = make([]byte, 32)
		rand.Read(l.nameKey)
		l.failures = map[string]*loginFailures{}
	})
}

// attempt runs check for a login by name from remote (an "ip:port"),
// unless that address or that name is backing off, or unless check would
// hash a password (a name is given) while every hash slot is taken: then
// it answers a *dashboard.RetryLater without checking. A failed check
// counts against the address and the name, a successful one clears both.
func (l *loginLimiter) attempt(name, remote string, check func() *credential) (*credential, error) {
	l.ready()
	keys := l.keys(name, remote)
	if wait := l.backoff(keys); wait > 0 {
		return nil, &dashboard.RetryLater{After: wait}
	}
	if name != "" {
		select {
		case l.slots <- struct{}{}:
			defer func() { <-l.slots }()
		default:
			return nil, &dashboard.RetryLater{After: loginBusyRetry, Busy: true}
		}
	}
	c := check()
	l.record(keys, c != nil)
	if c == nil {
		return nil, dashboard.ErrLoginRefused
	}
	return c, nil
}

// keys are the records a login counts against: its address (an IPv6
// address by its /64, which one host commonly holds whole) and its name.
func (l *loginLimiter) keys(name, remote string) []string {
	var keys []string
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.Is6() {
			p, _ := a.Prefix(64) // a valid IPv6 address has a /64
			keys = append(keys, "addr "+p.String())
		} else {
			keys = append(keys, "addr "+a.String())
		}
	} else {
		keys = append(keys, "addr "+host)
	}
	if name != "" {
		keys = append(keys, "name "+l.nameHash(name))
	}
	return keys
}

// nameHash is a short keyed hash of a name.
func (l *loginLimiter) nameHash(name string) string {
	l.ready()
	m := hmac.New(sha256.New, l.nameKey)
	m.Write([]byte(name))
	return hex.EncodeToString(m.Sum(nil)[:6])
}

// backoffAfter is how long after its last failure a record with failures
// failures waits.
func backoffAfter(failures int) time.Duration {
	if failures < loginFreeFailures {
		return 0
	}
	return min(loginBackoffFirst<<min(failures-loginFreeFailures, 16), loginBackoffMax)
}

// backoff is how long the longest waiting of keys has still to wait.
func (l *loginLimiter) backoff(keys []string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		if f := l.failures[k]; f != nil {
			wait = max(wait, f.last.Add(backoffAfter(f.count)).Sub(now))
		}
	}
	return wait
}

func (l *loginLimiter) record(keys []string, ok bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if ok {
			delete(l.failures, k)
			continue
		}
		f := l.failures[k]
		if f == nil {
			l.makeRoom(now)
			f = &loginFailures{}
			l.failures[k] = f
		}
		if now.Sub(f.last) > loginForgetAfter {
			f.count = 0
		}
		f.count++
		f.last = now
	}
}

// makeRoom forgets the records past loginForgetAfter once there are
// loginMaxTracked, and the oldest one if that frees none.
func (l *loginLimiter) makeRoom(now time.Time) {
	if len(l.failures) < loginMaxTracked {
		return
	}
	var oldest string
	for k, f := range l.failures {
		if now.Sub(f.last) > loginForgetAfter {
			delete(l.failures, k)
		} else if oldest == "" || f.last.Before(l.failures[oldest].last) {
			oldest = k
		}
	}
	if len(l.failures) >= loginMaxTracked {
		delete(l.failures, oldest)
	}
}

// logAttr is how a login name is written to the log: as it is if it is a
// configured name, or else as its hash, since a name nobody configured is
// as likely a token or a password typed in the wrong field.
func (l *loginLimiter) logAttr(name string, set *tokenSet) slog.Attr {
	switch {
	case name == "":
		return slog.Attr{}
	case set.hasName(name):
		return slog.String("name", name)
	}
	return slog.String("name_hash", l.nameHash(name))
}
