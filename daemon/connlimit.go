package daemon

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// connLimiter is a listener that keeps its open connections under caps:
// in total and, on TCP, per client address. A connection past a cap is
// closed as soon as it is accepted, so that the kernel's backlog drains
// instead of piling up and the daemon's file descriptors stay with the
// clients it serves: Accept never reaches the process's descriptor limit
// on one client's account. A connection counts until its server says it
// is closed (connState).
type connLimiter struct {
	net.Listener
	total   func() int // cap on open connections
	perAddr func() int // cap per client address; nil: none (the unix socket)
	// refused is told of each connection closed at once: the client's
	// address, the cap it met, the cap's key and its value.
	refused func(remote, why, key string, limit int)

	mu     sync.Mutex
	open   map[net.Conn]string // each open connection's client address
	byAddr map[string]int
}

func newConnLimiter(ln net.Listener, total, perAddr func() int, refused func(remote, why, key string, limit int)) *connLimiter {
	return &connLimiter{Listener: ln, total: total, perAddr: perAddr, refused: refused,
		open: map[net.Conn]string{}, byAddr: map[string]int{}}
}

// Accept returns the next connection within the caps.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := clientAddress(c)
		why, key, limit := l.admit(c, addr)
		if why == "" {
			return c, nil
		}
		if addr == "" {
			addr = peerOfUnixConn(c)
		}
		c.Close()
		l.refused(addr, why, key, limit)
	}
}

// admit counts c in, or says which cap it is over: why, the cap's key in
// [limits], and its value.
func (l *connLimiter) admit(c net.Conn, addr string) (string, string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := l.total(); len(l.open) >= n {
		if l.perAddr == nil {
			return "too many open connections", "limits.socket_max_connections", n
		}
		return "too many open connections", "limits.max_connections", n
	}
	if l.perAddr != nil {
		if n := l.perAddr(); l.byAddr[addr] >= n {
			return "too many open connections from this address", "limits.max_connections_per_address", n
		}
	}
	l.open[c] = addr
	l.byAddr[addr]++
	return "", "", 0
}

// connState is the server's ConnState hook: a closed or hijacked
// connection no longer counts.
func (l *connLimiter) connState(c net.Conn, st http.ConnState) {
	if st != http.StateClosed && st != http.StateHijacked {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	addr, ok := l.open[c]
	if !ok {
		return
	}
	delete(l.open, c)
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr)
	}
}

// cutWrites gives every open connection's writes until at: at shutdown, a
// client that reads nothing must not hold the daemon up.
func (l *connLimiter) cutWrites(at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.open {
		_ = c.SetWriteDeadline(at)
	}
}

// clientAddress is a TCP connection's client IP; "" for a unix socket.
func clientAddress(c net.Conn) string {
	a := c.RemoteAddr()
	if a == nil {
		return ""
	}
	if tcp, ok := a.(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return ""
}

// peerOfUnixConn names a unix socket client by its process and user, which
// the kernel tells; the socket has no other address to log.
func peerOfUnixConn(c net.Conn) string {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return "local"
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return "local"
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil || credErr != nil {
		return "local"
	}
	return fmt.Sprintf("local pid %d uid %d", cred.Pid, cred.Uid)
}
