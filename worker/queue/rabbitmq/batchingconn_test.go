package rabbitmq

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// loopbackPair is both ends of a TCP connection on 127.0.0.1.
func loopbackPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestBatchingConn_EveryWriteArrivesInItsWritersOrder(t *testing.T) {
	t.Parallel()
	client, server := loopbackPair(t)
	b := newBatchingConn(client)
	defer b.Close()

	const writers, each = 8, 2000
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := fmt.Fprintf(b, "%d:%d\n", w, i); err != nil {
					t.Errorf("writer %d, write %d: %v", w, i, err)
					return
				}
			}
		}()
	}
	next := make([]int, writers)
	lines := bufio.NewScanner(server)
	for got := 0; got < writers*each; got++ {
		if !lines.Scan() {
			t.Fatalf("after %d of %d lines: %v", got, writers*each, lines.Err())
		}
		ws, is, _ := strings.Cut(lines.Text(), ":")
		w, _ := strconv.Atoi(ws)
		i, _ := strconv.Atoi(is)
		if w < 0 || w >= writers || i != next[w] {
			t.Fatalf("line %q: want writer %d's write %d next", lines.Text(), w, next[w])
		}
		next[w]++
	}
	wg.Wait()
}

func TestBatchingConn_FailedSendIsReturnedAndClosesTheConnection(t *testing.T) {
	t.Parallel()
	client, server := loopbackPair(t)
	b := newBatchingConn(client)
	defer b.Close()

	// The peer goes away with unread bytes, which resets the connection:
	// a send after that fails, and so must every Write after it.
	if _, err := b.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	server.(*net.TCPConn).SetLinger(0)
	server.Close()
	chunk := make([]byte, 64<<10)
	deadline := time.Now().Add(20 * time.Second)
	var first error
	for first == nil {
		if time.Now().After(deadline) {
			t.Fatal("no Write failed within 20 s of the peer's reset")
		}
		_, first = b.Write(chunk)
	}
	if _, err := b.Write([]byte("more")); err == nil {
		t.Fatalf("a Write after the failure %v succeeded", first)
	}
	// Closed underneath: the client's reader sees the loss at once, not
	// at its read deadline.
	client.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := b.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); err == nil || ok && ne.Timeout() {
		t.Fatalf("read on the failed connection: %v, want it closed", err)
	}
}

func TestBatchingConn_CloseReleasesAWriterWaitingForRoom(t *testing.T) {
	t.Parallel()
	// A pipe has no buffer: with nobody reading, the first send blocks,
	// the pending buffer fills, and the next writer waits for room.
	client, server := net.Pipe()
	defer server.Close()
	b := newBatchingConn(client)
	big := make([]byte, batchLimit)
	for i := 0; i < 2; i++ {
		if _, err := b.Write(big); err != nil {
			t.Fatal(err)
		}
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := b.Write(big)
		waiting <- err
	}()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; err == nil {
		t.Fatal("a Write on a closed connection succeeded")
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
	}
}
