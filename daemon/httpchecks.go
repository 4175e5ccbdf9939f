package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// listenResolveTimeout bounds the lookup of [http] listen's host, so that a
// dead name server cannot hold a start or -check-config for long.
const listenResolveTimeout = 5 * time.Second

// loadTLS loads the certificate and key of [http] (nil without them). The
// start checks and listenHTTP both load them through it.
func (c *HTTPConfig) loadTLS() (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", c.TLSCert, c.TLSKey, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// checkListenAddr finds what net.Listen would refuse in addr without
// binding it: a port outside 1–65535 or unknown, a host that does not
// resolve, an address this host does not have. transient is set when the name server did not answer, which may
// pass by itself.
func checkListenAddr(addr string) (transient bool, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("%q is not host:port: %v", addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), listenResolveTimeout)
	defer cancel()
	if port == "" || isDigits(port) {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false, fmt.Errorf("%q: port %q is not between 1 and 65535", addr, port)
		}
	} else if _, err := net.DefaultResolver.LookupPort(ctx, "tcp", port); err != nil {
		return false, fmt.Errorf("%q: port %q is neither a number nor a known service", addr, port)
	}
	if host == "" {
		return false, nil
	}
	ips := []string{host}
	if net.ParseIP(host) == nil {
		if ips, err = net.DefaultResolver.LookupHost(ctx, host); err != nil {
			var dnsErr *net.DNSError
			if errors.As(err, &dnsErr) && !dnsErr.IsNotFound && (dnsErr.IsTimeout || dnsErr.IsTemporary) {
				return true, fmt.Errorf("%q: host %s could not be resolved for now: %v", addr, host, err)
			}
			return false, fmt.Errorf("%q: host %s does not resolve: %v", addr, host, err)
		}
	}
	if !anyLocal(ips) {
		return false, fmt.Errorf("%q: %s is not an address of this host", addr, strings.Join(ips, ", "))
	}
	return false, nil
}

// anyLocal reports whether one of ips may be listened on here: a wildcard,
// a loopback address, or one of the host's interfaces. When the interfaces
// cannot be listed it says yes, and the listen itself decides.
func anyLocal(ips []string) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true
	}
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil || ip.IsUnspecified() || ip.IsLoopback() {
			return true
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
				return true
			}
		}
	}
	return false
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// listenFaultIsConfig reports whether net.Listen failed for a reason only
// the config can cure (an address this host does not have, a port it may
// not bind), rather than one that may pass, such as a port in use.
func listenFaultIsConfig(err error) bool {
	return errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM)
}
