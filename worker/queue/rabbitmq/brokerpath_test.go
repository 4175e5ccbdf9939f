package rabbitmq

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// brokerPath is a TCP path to the test broker that one test can cut:
// cutting closes every connection through it and refuses new ones until
// the path is mended. It stands for a network that fails between a kilnd
// and a broker that keeps running; the suite's broker is shared by tests
// running in parallel, so stopping it would cut all of them.
type brokerPath struct {
	url string // the broker's URL through the path

	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

// newBrokerPath opens a path to the broker at brokerURL; it closes when
// the test ends.
func newBrokerPath(t *testing.T, brokerURL string) *brokerPath {
	t.Helper()
	u, err := url.Parse(brokerURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &brokerPath{ln: ln, target: u.Host}
	u.Host = ln.Addr().String()
	p.url = u.String()
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.cutOff()
	})
	return p
}

func (p *brokerPath) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			in.Close()
			continue
		}
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go relay(in, out)
		go relay(out, in)
	}
}

// relay copies one direction of a connection; the end of either closes
// both.
func relay(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// cutOff closes every connection through the path and refuses new ones.
func (p *brokerPath) cutOff() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// mend takes connections again.
func (p *brokerPath) mend() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}
