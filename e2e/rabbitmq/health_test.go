package rabbitmq

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kiln/internal/rabbitnode"
)

// /readyz follows the broker: 503 "broker" from soon after the broker is
// stopped or killed, 200 again once it is back, on the socket and on TCP without a
// token, while /healthz stays 200. On TCP the answer names no broker URL,
// port or error; on the socket it says what the connection met.
func TestReadyzFollowsTheBroker(t *testing.T) {
	node := rabbitnode.StartT(t)
	pics := picDir(t)
	port, err := rabbitnode.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	tcp := fmt.Sprintf("http://127.0.0.1:%d", port)
	tokens := filepath.Join(shortDir(t, "kt"), "tokens")
	if err := os.WriteFile(tokens, []byte("monitor read monitor-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startHost(t, "a", pics, hostConfig{urls: []string{brokerURL(node, "")}, prefix: uniquePrefix(t),
		extra: fmt.Sprintf("\n[http]\nlisten = \"127.0.0.1:%d\"\ntokens = %q\n", port, tokens)})
	socket := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", h.socket)
	}}}
	plain := &http.Client{}
	ask := func(c *http.Client, url string) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	ready := func(what string, code int, within time.Duration) time.Duration {
		start := time.Now()
		waitFor(t, within, what, func() (string, bool) {
			sc, sb := ask(socket, "http://kiln/readyz")
			tc, tb := ask(plain, tcp+"/readyz")
			return fmt.Sprintf("socket %d %q, TCP %d %q", sc, sb, tc, tb), sc == code && tc == code
		})
		return time.Since(start)
	}

	took := ready("ready with the broker up", http.StatusOK, time.Minute)
	t.Logf("/readyz 200 on the socket and on TCP %s after kilnd's READY=1", took.Round(time.Millisecond))
	// Ready means jobs run: a few go through before the broker is killed,
	// and a few after it is back.
	runJobs := func(when string) {
		for _, id := range submitImages(t, h, pics, 5) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			j, err := h.client().Job(ctx, id, time.Minute)
			cancel()
			if err != nil || j.State != "succeeded" {
				t.Fatalf("job %s %s: %v %+v", id, when, err, j)
			}
		}
	}
	runJobs("before the broker stops")

	// A clean stop and start first. It also makes the records stream
	// durable in the broker's stream coordinator, as it is on a broker that
	// has run for a while: RabbitMQ (3.10 and 4.0 alike) killed within
	// seconds of declaring a stream keeps the stream "down" after its
	// restart, and kilnd, which cannot use it, rightly stays not ready.
	node.Stop()
	took = ready("not ready once the broker is stopped", http.StatusServiceUnavailable, time.Minute)
	t.Logf("/readyz 503 %s after the broker's clean stop", took.Round(time.Millisecond))
	if err := node.Restart(); err != nil {
		t.Fatal(err)
	}
	took = ready("ready again once the stopped broker is back", http.StatusOK, 2*time.Minute)
	t.Logf("/readyz 200 again %s after the broker's start returned", took.Round(time.Millisecond))
	runJobs("after the broker's clean restart")

	node.Kill()
	took = ready("not ready once the broker is killed", http.StatusServiceUnavailable, time.Minute)
	_, sb := ask(socket, "http://kiln/readyz")
	_, tb := ask(plain, tcp+"/readyz")
	t.Logf("/readyz 503 %s after kill -9 of the broker; socket: %q; TCP: %q", took.Round(time.Millisecond), sb, tb)
	if tb != "not ready: broker\n" {
		t.Errorf("TCP /readyz with the broker down: %q, want \"not ready: broker\" and nothing more", tb)
	}
	if !strings.HasPrefix(sb, "not ready: broker: ") || len(sb) <= len("not ready: broker: \n") {
		t.Errorf("socket /readyz with the broker down: %q, want the broker's error after \"not ready: broker: \"", sb)
	}
	for _, c := range []struct {
		c   *http.Client
		url string
	}{{socket, "http://kiln/healthz"}, {plain, tcp + "/healthz"}} {
		if code, body := ask(c.c, c.url); code != http.StatusOK || body != "ok\n" {
			t.Errorf("%s with the broker down: %d %q, want 200 ok: kilnd itself answers", c.url, code, body)
		}
	}

	if err := node.Restart(); err != nil {
		t.Fatal(err)
	}
	took = ready("ready again once the broker is back", http.StatusOK, 2*time.Minute)
	t.Logf("/readyz 200 again %s after the killed broker's restart returned", took.Round(time.Millisecond))
	runJobs("after the killed broker came back")
	if !h.alive() {
		t.Error("kilnd died")
	}
}
