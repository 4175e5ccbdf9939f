package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"kiln/api"
)

// socketHTTP is an HTTP client for kilnd's control socket, for requests
// whose bytes a test writes itself.
func (e *env) socketHTTP() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", e.socket)
	}}}
}

// A payload that is not UTF-8, and a job that asks for more attempts or a
// longer attempt than its queue allows, are refused on every submit path
// (one job, a batch, a line of a stream) with a 400 naming the field, and
// none is stored: the job listing stays valid JSON with only the good job
// in it.
func TestSubmitsRefuseBadPayloadsAndWhatTheQueueDoesNotAllow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.start(t) // queue images: max_attempts 3, the default timeout of 5m
	httpc := e.socketHTTP()
	refused := []struct{ job, want string }{
		{`{"type":"noop","queue":"images","payload":{"note":"` + "\xc3\x28" + `"}}`, `payload: is not valid UTF-8 (byte 9 of the payload)`},
		{`{"type":"image","payload":{"pipeline":"web","input":"/srv/` + "\xff" + `.jpg"}}`, `payload: is not valid UTF-8`},
		{`{"type":"noop","queue":"images","timeout":"2562047h"}`, `timeout: 2562047h0m0s is over queue \"images\"'s timeout of 5m0s`},
		{`{"type":"noop","queue":"images","max_attempts":2147483648}`, `max_attempts: 2147483648 is over queue \"images\"'s max_attempts of 3`},
		{`{"type":"noop","max_attempts":6}`, `max_attempts: 6 is over queue \"default\"'s max_attempts of 5`},
	}
	good := `{"type":"noop","queue":"images","timeout":"1m","max_attempts":2}`

	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := httpc.Post("http://kiln"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range refused {
		if code, body := post("/v1/jobs", c.job); code != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("POST /v1/jobs %q: %d %s; want 400 with %s", c.job, code, body, c.want)
		}
		// A batch is all or none: the good job goes down with the bad.
		batch := `{"jobs":[` + good + `,` + c.job + `]}`
		if code, body := post("/v1/jobs/batch", batch); code != http.StatusBadRequest || !strings.Contains(body, "jobs[1]."+c.want) {
			t.Errorf("POST /v1/jobs/batch %q: %d %s; want 400 with jobs[1].%s", batch, code, body, c.want)
		}
	}

	// A stream answers each bad line alone and stores the good one.
	var lines strings.Builder
	for i, c := range refused {
		lines.WriteString(`{"tag":"bad` + itoa(i) + `",` + c.job[1:] + "\n")
	}
	lines.WriteString(`{"tag":"good",` + good[1:] + "\n")
	resp, err := httpc.Post("http://kiln"+api.StreamPath, "application/x-ndjson", strings.NewReader(lines.String()))
	if err != nil {
		t.Fatal(err)
	}
	acks := map[string]api.StreamAck{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var a api.StreamAck
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("stream answer %q: %v", sc.Text(), err)
		}
		acks[a.Tag] = a
	}
	resp.Body.Close()
	for i, c := range refused {
		a := acks["bad"+itoa(i)]
		// The answer is JSON: the message's quotes are not escaped there.
		if want := strings.ReplaceAll(c.want, `\"`, `"`); a.Status != http.StatusBadRequest || a.ID != "" || !strings.Contains(a.Error, want) {
			t.Errorf("stream line %q: answered %+v; want 400 with %s", c.job, a, want)
		}
	}
	if a := acks["good"]; a.ID == "" {
		t.Fatalf("good stream line: answered %+v, want it stored", a)
	}

	// Only the good job is stored, and the listing is UTF-8 JSON.
	listing, err := httpc.Get("http://kiln/v1/jobs?limit=100")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(listing.Body)
	listing.Body.Close()
	if !utf8.Valid(body) {
		t.Fatalf("GET /v1/jobs is not UTF-8: %q", body)
	}
	var list api.JobList
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("GET /v1/jobs: %v: %s", err, body)
	}
	if len(list.Jobs) != 1 || list.Jobs[0].ID != acks["good"].ID {
		t.Fatalf("stored jobs: %s; want only the good stream line's %s", body, acks["good"].ID)
	}
	if j := list.Jobs[0]; j.MaxAttempts != 2 {
		t.Errorf("the good job asked for 2 attempts and has %d", j.MaxAttempts)
	}
}
