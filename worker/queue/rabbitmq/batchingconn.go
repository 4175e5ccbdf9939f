package rabbitmq

import (
	"net"
	"sync"
)

// batchingConn is the broker connection under the AMQP client, whose
// writes it gathers: the client flushes its buffer after every frame set
// (each publish, each ack), one write(2) each, and on a busy link that is
// a system call and a TCP segment per message on both sides, kilnd's and
// the broker's. A Write here only appends to a pending buffer; one
// goroutine sends what is pending, and while it sends, the next writes
// gather behind it, as a group commit does. Under load a send carries
// many messages; alone, a message waits only for the hand-over.
//
// Nothing is acknowledged by a write: a publish counts once its confirm
// comes back, and an ack is safe to lose with the connection (the broker
// delivers again), so a write that fails after Write returned loses
// nothing that was promised. The failure is returned by every later
// Write, and the connection is closed so that the client's reader sees
// the loss at once, as it would have.
type batchingConn struct {
	net.Conn

	mu      sync.Mutex
	work    sync.Cond // the sender waits here for pending bytes
	room    sync.Cond // writers wait here while the pending buffer is full
	pending []byte
	err     error // the failed send, which ends the sender; every later Write returns it
	closed  bool
}

// batchLimit bounds the bytes pending: a writer waits beyond it, so a
// broker that reads slowly holds kilnd's writers back as the socket's
// own buffer would.
const batchLimit = 1 << 20

func newBatchingConn(c net.Conn) *batchingConn {
	b := &batchingConn{Conn: c}
	b.work.L, b.room.L = &b.mu, &b.mu
	go b.send()
	return b
}

func (b *batchingConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	for b.err == nil && !b.closed && len(b.pending) >= batchLimit {
		b.room.Wait()
	}
	if b.closed {
		b.mu.Unlock()
		return 0, net.ErrClosed
	}
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return 0, err
	}
	b.pending = append(b.pending, p...)
	b.mu.Unlock()
	b.work.Signal()
	return len(p), nil
}

// send writes what is pending, one gathered write at a time, until the
// connection is closed or a write fails.
func (b *batchingConn) send() {
	var spare []byte
	for {
		b.mu.Lock()
		for len(b.pending) == 0 && !b.closed {
			b.work.Wait()
		}
		if b.closed {
			b.mu.Unlock()
			return
		}
		out := b.pending
		b.pending = spare[:0]
		b.mu.Unlock()
		b.room.Broadcast()

		if _, err := b.Conn.Write(out); err != nil {
			b.mu.Lock()
			b.err = err
			b.mu.Unlock()
			b.room.Broadcast()
			b.Conn.Close()
			return
		}
		spare = out
	}
}

// Close closes the connection at once; what is still pending is not
// sent. The AMQP client closes only after the broker answered its
// connection.close, which went after every earlier write, or after the
// connection failed, when nothing pending could arrive anyway.
func (b *batchingConn) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.work.Broadcast()
	b.room.Broadcast()
	return b.Conn.Close()
}
