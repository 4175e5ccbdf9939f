package api

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// A program that makes a Client for each request, as many do, reuses the
// connections of the ones before: a daemon with a cap on its socket's
// connections would otherwise see every discarded Client's idle
// connection until its idle_timeout, and refuse the next ones.
func TestClientsOfOneSocketShareConnections(t *testing.T) {
	t.Parallel()
	socket := filepath.Join(t.TempDir(), "kiln.sock")
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	var opened atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"j1","state":"succeeded"}` + "\n"))
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				opened.Add(1)
			}
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	const requests = 50
	for i := 0; i < requests; i++ {
		j, err := NewClient(socket).Job(context.Background(), "j1", 0)
		if err != nil || j.ID != "j1" {
			t.Fatalf("request %d: %v %v", i, j, err)
		}
	}
	if n := opened.Load(); n > 2 {
		t.Errorf("%d requests through as many clients opened %d connections, want them reused", requests, n)
	}
}
