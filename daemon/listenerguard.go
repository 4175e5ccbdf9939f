package daemon

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"kiln/api"
)

// shutdownGrace is how long, once the daemon stops, an answer may still
// take to be written: a client that reads nothing is then cut off.
const shutdownGrace = time.Second

// listenerGuard applies [limits] to one listener: its connection caps, the
// deadlines of every request it serves, its event stream subscribers, its
// large bodies, and the summary log of what it refuses. Each listener has
// its own, so that TCP clients can never use up what the control socket's
// local clients need.
type listenerGuard struct {
	d        *daemon
	name     string // "http" or "control socket", as log lines begin
	tcp      bool   // per-address caps apply
	conns    *connLimiter
	refusals *refusalLog
	streams  atomic.Int64 // open event streams
	large    turns        // large bodies being read
}

type guardKey struct{}

func newListenerGuard(d *daemon, name string, tcp bool) *listenerGuard {
	g := &listenerGuard{d: d, name: name, tcp: tcp}
	g.refusals = newRefusalLog(d.log, func() time.Duration { return g.limits().RefusalLogInterval.Std() })
	return g
}

// guardOf is the guard of the listener a request came in on; nil outside
// a listener's server.
func guardOf(ctx context.Context) *listenerGuard {
	g, _ := ctx.Value(guardKey{}).(*listenerGuard)
	return g
}

func (g *listenerGuard) limits() *LimitsConfig { return &g.d.config().Limits }

// server is the HTTP server for handler under the guard's limits. The
// header and idle timeouts are read once, here: net/http holds them for
// the server's life, so they need a restart.
func (g *listenerGuard) server(handler http.Handler) *http.Server {
	lim := g.limits()
	return &http.Server{
		Handler:           g.wrap(handler),
		ReadHeaderTimeout: lim.HeaderTimeout.Std(),
		IdleTimeout:       lim.IdleTimeout.Std(),
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         g.connState,
		BaseContext:       func(net.Listener) context.Context { return context.WithValue(context.Background(), guardKey{}, g) },
		ErrorLog:          log.New(serverErrors{g}, "", 0),
	}
}

// listen wraps ln in the guard's connection caps; call it before serving.
func (g *listenerGuard) listen(ln net.Listener) net.Listener {
	total, perAddr := func() int { return g.limits().SocketMaxConnections }, (func() int)(nil)
	if g.tcp {
		total = func() int { return g.limits().MaxConnections }
		perAddr = func() int { return g.limits().MaxConnectionsPerAddress }
	}
	g.conns = newConnLimiter(ln, total, perAddr, func(remote, why, key string, limit int) {
		g.refusals.refuse(refusalKey{remote: remote, msg: g.name + " connection refused: " + why}, "limit", limit, "key", key)
	})
	return g.conns
}

func (g *listenerGuard) connState(c net.Conn, st http.ConnState) {
	if g.conns != nil {
		g.conns.connState(c, st)
	}
}

// shutdown runs as the listener's server shuts down: answers get
// shutdownGrace to be taken, and the refusals counted so far are logged.
func (g *listenerGuard) shutdown() {
	if g.conns != nil {
		g.conns.cutWrites(time.Now().Add(shutdownGrace))
	}
	g.refusals.close()
}

// wrap puts deadlines on every request: its body must arrive within
// body_timeout (a streaming submit sets its own per line), and its answer
// be taken within write_timeout after that. The long answers (event
// streams, a job's wait) move the write deadline on themselves.
func (g *listenerGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lim := g.limits()
		rc := http.NewResponseController(w)
		now := time.Now()
		writeBy := now.Add(lim.WriteTimeout.Std())
		if r.ContentLength != 0 && !(r.Method == http.MethodPost && r.URL.Path == api.StreamPath) {
			_ = rc.SetReadDeadline(now.Add(lim.BodyTimeout.Std()))
			writeBy = writeBy.Add(lim.BodyTimeout.Std())
		}
		_ = rc.SetWriteDeadline(writeBy)
		next.ServeHTTP(w, r)
	})
}

// refuse logs a refused request through the refusal log of the listener it
// came in on.
func refuseRequest(r *http.Request, msg, token string, attrs ...any) {
	key := refusalKey{remote: remoteHost(r.RemoteAddr), msg: msg, token: token}
	attrs = append(attrs, "method", r.Method, "path", r.URL.Path)
	if g := guardOf(r.Context()); g != nil {
		g.refusals.refuse(key, attrs...)
		return
	}
	slog.Warn(msg, append([]any{"remote", key.remote}, attrs...)...)
}

// endAfterAnswer closes the connection once this answer is written, without
// reading more of the request. net/http would otherwise read what is left
// of an unread body, up to 256 KiB and at the client's pace, before the
// answer (to keep the connection) or after it (before closing): a client
// trickling its body would hold the connection, and its own refusal.
func endAfterAnswer(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	if r.ContentLength != 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
}

// remoteHost is a request's client address without its port.
func remoteHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	if addr == "" || addr == "@" {
		return "local"
	}
	return addr
}

// openEventStream takes one of the listener's event stream places, or
// says there is none left.
func (g *listenerGuard) openEventStream() bool {
	if g.streams.Add(1) > int64(g.limits().MaxEventStreams) {
		g.streams.Add(-1)
		return false
	}
	return true
}

func (g *listenerGuard) closeEventStream() { g.streams.Add(-1) }

// turns counts holders of something under a cap read at each take.
type turns struct {
	mu    sync.Mutex
	held  int
	freed chan struct{} // closed at the next give
}

// take waits for a turn, up to wait or the end of ctx, and says whether it
// got one.
func (t *turns) take(ctx context.Context, limit int, wait time.Duration) bool {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		t.mu.Lock()
		if t.held < limit {
			t.held++
			t.mu.Unlock()
			return true
		}
		if t.freed == nil {
			t.freed = make(chan struct{})
		}
		freed := t.freed
		t.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return false
		case <-timer.C:
			return false
		}
	}
}

func (t *turns) give() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.held--
	if t.freed != nil {
		close(t.freed)
		t.freed = nil
	}
}

// serverErrors takes net/http's own error lines: failed TLS handshakes and
// accept errors go to the refusal log, which a scanner or a flood would
// otherwise fill a line each; anything else is logged as a warning.
type serverErrors struct{ g *listenerGuard }

func (e serverErrors) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	switch {
	case strings.HasPrefix(line, "http: TLS handshake error from "):
		addr, why, _ := strings.Cut(strings.TrimPrefix(line, "http: TLS handshake error from "), ": ")
		e.g.refusals.refuse(refusalKey{remote: remoteHost(addr), msg: e.g.name + " TLS handshake failed"}, "err", why)
	case strings.HasPrefix(line, "http: Accept error: "):
		why, _, _ := strings.Cut(strings.TrimPrefix(line, "http: Accept error: "), "; retrying")
		e.g.refusals.refuse(refusalKey{remote: "-", msg: e.g.name + " accept failed"}, "err", why)
	default:
		e.g.d.log.Warn(e.g.name+" server: "+strings.TrimPrefix(line, "http: "), "listener", e.g.name)
	}
	return len(p), nil
}

// limitError is a request refused by a limit of [limits]: its status, and
// a message that names the limit.
type limitError struct {
	status int
	msg    string
}

func (e *limitError) Error() string { return e.msg }

func newLimitError(status int, format string, args ...any) *limitError {
	return &limitError{status: status, msg: fmt.Sprintf(format, args...)}
}
