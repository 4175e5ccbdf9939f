package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"kiln/api"
	"kiln/kilntype"
)

// openStream starts a streaming submit by hand, as an application in any
// language would: lines go into w, answers come out of the returned reader.
func openStream(t *testing.T, b *serverBundle) (io.WriteCloser, *bufio.Reader) {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", "http://kiln"+api.StreamPath, pr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.Close(); resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("stream answered %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	return pw, bufio.NewReader(resp.Body)
}

func readAck(t *testing.T, r *bufio.Reader) api.StreamAck {
	t.Helper()
	line, err := r.ReadBytes('\n')
	if err != nil {
		t.Fatalf("read answer: %v (got %q)", err, line)
	}
	var a api.StreamAck
	if err := json.Unmarshal(line, &a); err != nil {
		t.Fatalf("answer %q: %v", line, err)
	}
	return a
}

// Each line is answered while the stream stays open, once its job is
// durable: the job is in the store when its answer is read.
func TestServer_StreamAnswersEachJobOnceDurable(t *testing.T) {
	t.Parallel()
	b := setupServer(t, "")
	w, r := openStream(t, b)
	for i := 0; i < 3; i++ {
		tag := fmt.Sprintf("job-%d", i)
		if _, err := fmt.Fprintf(w, `{"tag":%q,"type":"noop","queue":"images"}`+"\n", tag); err != nil {
			t.Fatal(err)
		}
		// The answer comes before the next line is sent: acknowledgements
		// do not wait for the request to end.
		a := readAck(t, r)
		if a.Tag != tag || a.ID == "" || a.Error != "" || a.Queue != "images" || a.State != kilntype.StateQueued {
			t.Fatalf("answer to %s: %+v", tag, a)
		}
		j, err := b.d.queue.Get(context.Background(), a.ID)
		if err != nil || j.State != kilntype.StateQueued {
			t.Fatalf("job %s answered but not in the store: %+v %v", a.ID, j, err)
		}
	}
	w.Close()
	if line, err := r.ReadBytes('\n'); err != io.EOF || len(line) > 0 {
		t.Fatalf("after the last line the stream should end: %q %v", line, err)
	}
}

// A bad line gets its own answer naming its tag and field; the lines
// around it are stored as usual.
func TestServer_StreamBadLinesAnsweredAlone(t *testing.T) {
	t.Parallel()
	b := setupServer(t, "")
	pic := b.picture(t)
	w, r := openStream(t, b)
	lines := []string{
		`{"tag":"ok-1","type":"noop"}`,
		`{"tag":"prio","type":"noop","priority":5000}`,
		`{"tag":"ok-2","type":"image","payload":{"pipeline":"web","input":"` + pic + `"}}`,
		`{"tag":"noinput","type":"image","payload":{"pipeline":"web"}}`,
		`{"tag":"colour","type":"noop","colour":"red"}`,
		`{"tag":"wrongtype","type":"noop","priority":"high"}`,
		`{"type":"noop"}`,
		`{"tag":"cut`,
		``,
		`{"tag":"ok-3","type":"noop","unique_key":"u"}`,
		`{"tag":"ok-4","type":"noop","unique_key":"u"}`,
		`{"tag":"full-1","type":"noop","queue":"small"}`,
		`{"tag":"full-2","type":"noop","queue":"small"}`,
	}
	go func() {
		io.WriteString(w, strings.Join(lines, "\n")+"\n")
		w.Close()
	}()
	acks := map[string]api.StreamAck{}
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF {
			break
		}
		var a api.StreamAck
		if err != nil || json.Unmarshal(line, &a) != nil {
			t.Fatalf("answer %q: %v", line, err)
		}
		key := a.Tag
		if key == "" {
			key = fmt.Sprint("line ", a.Line)
		}
		if _, dup := acks[key]; dup {
			t.Fatalf("two answers for %s", key)
		}
		acks[key] = a
	}
	for tag, want := range map[string]string{
		"prio":      "priority: must be between 0 and 1000",
		"noinput":   "payload.input: is required",
		"colour":    `unknown field "colour"`,
		"wrongtype": "priority: must be an integer, not string",
		"line 7":    "tag: is required",
		"line 8":    "invalid JSON",
		"full-2":    `queue full: queue "small" holds 1 waiting jobs`,
	} {
		a, ok := acks[tag]
		if !ok || a.ID != "" || !strings.Contains(a.Error, want) {
			t.Errorf("answer for %s: %+v; want an error with %q", tag, a, want)
		}
		if wantStatus := http.StatusBadRequest; tag == "full-2" && a.Status != http.StatusTooManyRequests || tag != "full-2" && a.Status != wantStatus {
			t.Errorf("answer for %s has status %d", tag, a.Status)
		}
	}
	for _, tag := range []string{"ok-1", "ok-2", "ok-3", "ok-4", "full-1"} {
		a := acks[tag]
		if a.ID == "" || a.Error != "" {
			t.Errorf("answer for %s: %+v; want it stored", tag, a)
			continue
		}
		if _, err := b.d.queue.Get(context.Background(), a.ID); err != nil {
			t.Errorf("%s answered %s but the job is not stored: %v", tag, a.ID, err)
		}
	}
	if acks["ok-2"].Queue != "images" {
		t.Errorf("image job went to %q, not its pipeline's queue", acks["ok-2"].Queue)
	}
	if !acks["ok-4"].Duplicate || acks["ok-4"].ID != acks["ok-3"].ID {
		t.Errorf("same unique_key: %+v then %+v; want the second a duplicate of the first", acks["ok-3"], acks["ok-4"])
	}
	if len(acks) != len(lines)-1 {
		t.Errorf("%d answers for %d non-empty lines: %v", len(acks), len(lines)-1, acks)
	}
}

// The Go client's pipelined submitter: many jobs in flight, each answered
// with its tag, a refused one with its error.
func TestServer_Submitter(t *testing.T) {
	t.Parallel()
	b := setupServer(t, "")
	ctx := context.Background()
	s, err := b.client.NewSubmitter(ctx, 16)
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	go func() {
		for i := 0; i < n; i++ {
			req := api.SubmitRequest{Type: "noop"}
			if i%100 == 7 {
				req.Priority = -1
			}
			if err := s.Submit(ctx, fmt.Sprint(i), req); err != nil {
				t.Error(err)
				break
			}
		}
		s.Close()
	}()
	seen := map[string]bool{}
	refused := 0
	for a := range s.Acks() {
		if seen[a.Tag] {
			t.Fatalf("tag %s answered twice", a.Tag)
		}
		seen[a.Tag] = true
		var reqErr *api.RequestError
		switch {
		case a.Err == nil && a.ID != "":
		case errors.As(a.Err, &reqErr) && reqErr.Status == http.StatusBadRequest && strings.HasPrefix(reqErr.Message, "priority:"):
			refused++
		default:
			t.Fatalf("ack %+v", a)
		}
	}
	if len(seen) != n || refused != n/100 {
		t.Fatalf("%d answers, %d refused; want %d and %d", len(seen), refused, n, n/100)
	}
	if err := s.Submit(ctx, "late", api.SubmitRequest{Type: "noop"}); err == nil {
		t.Fatal("submit after Close was accepted")
	}
}
