package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"kiln/api"
	"kiln/internal/apidoc"
	"kiln/kilntype"
)

func loadDoc(t *testing.T) *apidoc.Doc {
	t.Helper()
	doc, err := apidoc.Load(api.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// The document describes every route the control server serves and no
// other, each with the credential it needs: none for the open routes, the
// bearer token's scope that the TCP listener asks for the others.
func TestOpenAPI_DescribesEveryRouteAndNoOther(t *testing.T) {
	t.Parallel()
	b := setupServer(t, "")
	doc := loadDoc(t)
	described := map[string]apidoc.Operation{}
	for _, op := range doc.Operations() {
		described[op.Pattern()] = op
	}
	served := map[string]bool{}
	for _, rt := range b.d.server.routes() {
		served[rt.pattern] = true
		op, ok := described[rt.pattern]
		switch {
		case !ok:
			t.Errorf("route %s is served, and the OpenAPI document lacks it", rt.pattern)
		case rt.open != op.Open:
			t.Errorf("route %s: open %v, the document says open %v", rt.pattern, rt.open, op.Open)
		case !rt.open && !slices.Equal(op.Scopes, []string{string(scopeOf(rt.pattern))}):
			t.Errorf("route %s needs scope %s on TCP, the document says %v", rt.pattern, scopeOf(rt.pattern), op.Scopes)
		}
	}
	for p := range described {
		if !served[p] {
			t.Errorf("the OpenAPI document describes %s, which is not served", p)
		}
	}
}

// apiCaller sends requests to the in-process server and holds each answer
// (and each accepted request body) to the document, finding the operation
// by the route the server's own mux picks for the request.
type apiCaller struct {
	t    *testing.T
	b    *serverBundle
	doc  *apidoc.Doc
	tcp  string
	seen map[string][]int // statuses met, by route
}

// do sends a request over the socket, or over TCP with token when tcp is
// set, checks the answer, and returns its status and body.
func (c *apiCaller) do(method, target, body string, tcp bool, token string) (int, []byte) {
	c.t.Helper()
	client, base := c.b.http, "http://kiln"
	if tcp {
		client, base = &http.Client{}, c.tcp
	}
	var rd io.Reader = strings.NewReader(body)
	if len(body) > 64<<10 {
		// Sent chunked: a length announced over the cap is refused unread
		// and the connection closed while the client may still be writing,
		// which it sees as a broken pipe instead of the answer.
		rd = io.MultiReader(rd)
	}
	req, err := http.NewRequest(method, base+target, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	reqType := "application/json"
	if strings.HasSuffix(req.URL.Path, "/stream") {
		reqType = "application/x-ndjson"
	}
	if body != "" {
		req.Header.Set("Content-Type", reqType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	_, pattern := c.b.d.server.mux.Handler(req)
	if pattern == "" {
		c.t.Fatalf("%s %s: no route of the server serves it", method, target)
	}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read the answer: %v", method, target, err)
	}
	c.seen[pattern] = append(c.seen[pattern], resp.StatusCode)
	m, path, _ := strings.Cut(pattern, " ")
	if err := c.doc.CheckAnswer(m, path, resp.StatusCode, resp.Header.Get("Content-Type"), got); err != nil {
		c.t.Errorf("%s %s: %v", method, target, err)
	}
	// A stream's 200 says nothing of its lines: the test checks the lines
	// that were taken itself.
	if resp.StatusCode < 300 && body != "" && reqType != "application/x-ndjson" {
		if err := c.doc.CheckRequest(m, path, reqType, []byte(body)); err != nil {
			c.t.Errorf("%s %s: the server took a request the document refuses: %v", method, target, err)
		}
	}
	return resp.StatusCode, got
}

// want is do that fails the test unless the answer has status code.
func (c *apiCaller) want(code int, method, target, body string) []byte {
	c.t.Helper()
	got, out := c.do(method, target, body, false, "")
	if got != code {
		c.t.Fatalf("%s %s %s: %d %s, want %d", method, target, body, got, out, code)
	}
	return out
}

// job is want for an answer that is a job.
func (c *apiCaller) job(code int, method, target, body string) api.Cancelled {
	c.t.Helper()
	var j api.Cancelled
	if err := json.Unmarshal(c.want(code, method, target, body), &j); err != nil {
		c.t.Fatal(err)
	}
	return j
}

// The answers of the in-process server, success and error alike, are what
// the document says: every route, the statuses as they occur (201, 200,
// 400, 401, 403, 404, 409, 413, 422, 429, 503), jobs in each state with
// results, errors, chains and a cancel of a running job.
func TestOpenAPI_AnswersAreWhatTheDocumentSays(t *testing.T) {
	t.Parallel()
	b, tcp := setupServerTCP(t)
	c := &apiCaller{t: t, b: b, doc: loadDoc(t), tcp: tcp, seen: map[string][]int{}}
	pic := b.picture(t)
	image := `{"type":"image","payload":{"pipeline":"web","input":"` + pic + `"}`

	c.want(http.StatusOK, "GET", "/healthz", "")
	c.want(http.StatusServiceUnavailable, "GET", "/readyz", "") // no loop yet
	stop := runLoop(t, b.d, readyBeat)
	waitHealth(t, b.http, "http://kiln/readyz", http.StatusOK, 10*time.Second)
	c.want(http.StatusOK, "GET", "/readyz", "")

	// Submits: queued, duplicate, refused.
	c.job(http.StatusCreated, "POST", "/v1/jobs", image+`,"unique_key":"k1","priority":5,"timeout":"30s","max_attempts":2,"run_in":"1h"}`)
	if j := c.job(http.StatusOK, "POST", "/v1/jobs", image+`,"unique_key":"k1","run_in":"1h"}`); j.State != kilntype.StateScheduled {
		t.Errorf("duplicate: state %s", j.State)
	}
	c.want(http.StatusBadRequest, "POST", "/v1/jobs", image+`,"colour":"red"}`)
	c.want(http.StatusBadRequest, "POST", "/v1/jobs", `{"type":"video"}`)
	c.want(http.StatusBadRequest, "POST", "/v1/jobs", ``)
	c.want(http.StatusRequestEntityTooLarge, "POST", "/v1/jobs", `{"type":"noop","payload":"`+strings.Repeat("x", 200<<10)+`"}`)
	c.want(http.StatusOK, "POST", "/v1/queues/small/pause", "")
	c.want(http.StatusCreated, "POST", "/v1/jobs", `{"type":"noop","queue":"small"}`)
	c.want(http.StatusTooManyRequests, "POST", "/v1/jobs", `{"type":"noop","queue":"small"}`)
	c.want(http.StatusOK, "POST", "/v1/queues/small/resume", "")
	c.want(http.StatusNotFound, "POST", "/v1/queues/nope/pause", "")
	c.want(http.StatusCreated, "POST", "/v1/jobs/batch", `{"jobs":[`+image+`,"run_at":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"},{"type":"noop","payload":[1,2]}]}`)
	c.want(http.StatusBadRequest, "POST", "/v1/jobs/batch", `{"jobs":[]}`)
	taken := `{"tag":"a","type":"noop","priority":3}`
	acks := c.want(http.StatusOK, "POST", "/v1/jobs/stream", taken+"\n"+`{"tag":"b","type":"image","payload":{"pipeline":"web"}}`+"\nnot json\n")
	if n := bytes.Count(acks, []byte("\n")); n != 3 || bytes.Count(acks, []byte(`"status":400`)) != 2 {
		t.Errorf("stream: want 3 answers, 2 of them refusals: %s", acks)
	}
	if err := c.doc.CheckRequest("POST", api.StreamPath, "application/x-ndjson", []byte(taken+"\n")); err != nil {
		t.Errorf("the stream took a line the document refuses: %v", err)
	}

	// A chain that succeeds, with a result and a child, and the child with
	// its parent.
	chain := c.job(http.StatusCreated, "POST", "/v1/jobs", `{"type":"noop","payload":{"then":["noop"],"x":1}}`)
	done := c.job(http.StatusOK, "GET", "/v1/jobs/"+chain.ID+"?wait=20s", "")
	if done.State != kilntype.StateSucceeded || len(done.Result) == 0 || len(done.Children) != 1 {
		t.Fatalf("chain's first step: %+v", done)
	}
	if child := c.job(http.StatusOK, "GET", "/v1/jobs/"+done.Children[0]+"?wait=20s", ""); child.Parent != chain.ID {
		t.Errorf("child's parent %q, want %s", child.Parent, chain.ID)
	}

	// A job that times out to dead, with its error; retried; and the
	// retry of all dead jobs.
	failing := c.job(http.StatusCreated, "POST", "/v1/jobs", `{"type":"noop","payload":{"sleep":"10s"},"timeout":"20ms","max_attempts":1}`)
	dead := c.job(http.StatusOK, "GET", "/v1/jobs/"+failing.ID+"?wait=20s", "")
	if dead.State != kilntype.StateDead || len(dead.Errors) == 0 || dead.LastError == "" {
		t.Fatalf("timed-out job: %+v", dead)
	}
	c.job(http.StatusOK, "POST", "/v1/jobs/"+failing.ID+"/retry", "")
	c.want(http.StatusOK, "POST", "/v1/dead/retry?queue=default", "")

	// A running job cancelled: its handler is stopped.
	long := c.job(http.StatusCreated, "POST", "/v1/jobs", `{"type":"noop","payload":{"sleep":"30s"}}`)
	deadline := time.Now().Add(20 * time.Second)
	for c.job(http.StatusOK, "GET", "/v1/jobs/"+long.ID, "").State != kilntype.StateRunning {
		if time.Now().After(deadline) {
			t.Fatal("the long job did not start running")
		}
		time.Sleep(10 * time.Millisecond) // polling the loop under test
	}
	if cj := c.job(http.StatusOK, "POST", "/v1/jobs/"+long.ID+"/cancel", ""); !cj.Stopping {
		t.Errorf("cancel of a running job: stopping not set: %+v", cj)
	}
	if j := c.job(http.StatusOK, "GET", "/v1/jobs/"+long.ID+"?wait=20s", ""); j.State != kilntype.StateCancelled {
		t.Errorf("cancelled running job ended %s", j.State)
	}
	c.want(http.StatusConflict, "POST", "/v1/jobs/"+long.ID+"/cancel", "")
	c.want(http.StatusConflict, "POST", "/v1/jobs/"+chain.ID+"/retry", "")
	c.want(http.StatusNotFound, "GET", "/v1/jobs/01NOSUCHJOB", "")
	c.want(http.StatusNotFound, "POST", "/v1/jobs/01NOSUCHJOB/cancel", "")
	c.want(http.StatusNotFound, "POST", "/v1/jobs/01NOSUCHJOB/retry", "")
	c.want(http.StatusBadRequest, "GET", "/v1/jobs/"+chain.ID+"?wait=soon", "")

	// Lists, purges, status, events, the document itself, metrics.
	var page api.JobList
	if err := json.Unmarshal(c.want(http.StatusOK, "GET", "/v1/jobs?limit=1", ""), &page); err != nil || page.Next == "" {
		t.Errorf("first page of one: %+v, %v", page, err)
	}
	c.want(http.StatusOK, "GET", "/v1/jobs?after="+page.Next+"&queue=images&state=scheduled", "")
	c.want(http.StatusBadRequest, "GET", "/v1/jobs?state=lost", "")
	c.want(http.StatusBadRequest, "GET", "/v1/jobs?limit=0", "")
	c.want(http.StatusOK, "DELETE", "/v1/jobs?state=cancelled", "")
	c.want(http.StatusBadRequest, "DELETE", "/v1/jobs?state=queued", "")
	c.want(http.StatusOK, "GET", "/v1/status", "")
	var sched api.Schedules
	if err := json.Unmarshal(c.want(http.StatusOK, "GET", "/v1/schedules", ""), &sched); err != nil || len(sched.Schedules) != 1 || sched.Schedules[0].Name != "hourly" {
		t.Errorf("schedules: %+v, %v; want the one schedule, hourly", sched, err)
	}
	c.want(http.StatusOK, "GET", "/v1/events?since=0&follow=false", "")
	c.want(http.StatusBadRequest, "GET", "/v1/events?state=lost", "")
	if doc := c.want(http.StatusOK, "GET", "/v1/openapi.json", ""); !bytes.Equal(doc, api.OpenAPI) {
		t.Error("GET /v1/openapi.json is not the document built in")
	}
	c.want(http.StatusOK, "GET", "/metrics", "")

	// Reload: applied, refused, applied again.
	c.want(http.StatusOK, "POST", "/v1/reload", "")
	good := serverConfig(b.dir, "\n[http]\nlisten = \""+strings.TrimPrefix(tcp, "http://")+"\"\ntokens = \""+b.dir+"/tokens\"\n")
	b.writeConfig(t, good+"\n[queues.bad]\nconcurrency = -1\n")
	c.want(http.StatusUnprocessableEntity, "POST", "/v1/reload", "")
	b.writeConfig(t, good)
	c.want(http.StatusOK, "POST", "/v1/reload", "")

	// On TCP: no token, and a token without the scope.
	if code, body := c.do("GET", "/v1/status", "", true, ""); code != http.StatusUnauthorized {
		t.Errorf("TCP status without a token: %d %s", code, body)
	}
	if code, body := c.do("POST", "/v1/reload", "", true, healthReadToken); code != http.StatusForbidden {
		t.Errorf("TCP reload with a read token: %d %s", code, body)
	}
	if code, _ := c.do("GET", "/readyz", "", true, ""); code != http.StatusOK {
		t.Errorf("TCP readyz without a token: %d", code)
	}

	// A store that cannot be read: the loop is stopped first, as a lease of
	// a closed store never returns.
	stop()
	if err := b.d.queue.Close(); err != nil {
		t.Fatal(err)
	}
	c.want(http.StatusServiceUnavailable, "GET", "/v1/status", "")
	c.want(http.StatusServiceUnavailable, "GET", "/v1/jobs/"+chain.ID, "")
	c.want(http.StatusServiceUnavailable, "GET", "/readyz", "")

	met := map[int]bool{}
	var lines []string
	for p, codes := range c.seen {
		for _, code := range codes {
			met[code] = true
		}
		slices.Sort(codes)
		lines = append(lines, fmt.Sprintf("%s %v", p, slices.Compact(codes)))
	}
	slices.Sort(lines)
	t.Logf("answers checked against the document:\n%s", strings.Join(lines, "\n"))
	for _, code := range []int{200, 201, 400, 401, 403, 404, 409, 413, 422, 429, 503} {
		if !met[code] {
			t.Errorf("no answer %d was checked", code)
		}
	}
	for _, rt := range b.d.server.routes() {
		if len(c.seen[rt.pattern]) == 0 {
			t.Errorf("route %s was not asked", rt.pattern)
		}
	}
}

// The checks can fail: an answer the document does not describe, in
// status, media type or body, is refused.
func TestOpenAPI_CheckRefusesWhatTheDocumentDoesNotSay(t *testing.T) {
	t.Parallel()
	doc := loadDoc(t)
	for _, c := range []struct {
		method, path string
		status       int
		ctype, body  string
	}{
		{"GET", "/v1/jobs/{id}", 418, "application/json", `{"error":"teapot"}`},
		{"GET", "/v1/jobs/{id}", 200, "text/plain", `hello`},
		{"GET", "/v1/jobs/{id}", 200, "application/json", `{"id":"x"}`},
		{"GET", "/v1/status", 200, "application/json", `{"version":"1","pid":1,"started_at":"2026-01-02T15:04:05Z","config":"c","queues":{},"running":0,"succeeded_since_start":0,"failed_since_start":0,"purged_by_retention":0,"colour":"red"}`},
		{"GET", "/v1/jobs", 200, "application/json", `{"jobs":[{"id":"x","queue":"q","type":"noop","priority":0,"run_at":"2026-01-02T15:04:05Z","attempts":0,"max_attempts":1,"state":"lost","created_at":"2026-01-02T15:04:05Z","updated_at":"2026-01-02T15:04:05Z"}]}`},
		{"POST", "/v1/jobs", 201, "application/json", `{"id":"x","queue":"q","type":"noop","priority":0,"run_at":"yesterday","attempts":0,"max_attempts":1,"state":"queued","created_at":"2026-01-02T15:04:05Z","updated_at":"2026-01-02T15:04:05Z"}`},
		{"GET", "/readyz", 503, "text/plain", "not ready: because\n"},
		{"GET", "/v1/events", 200, "text/event-stream", "event: job\ndata: {\"id\":1}\n\n"},
		{"POST", "/v1/jobs/stream", 200, "application/x-ndjson", "{\"tag\":\"a\",\"status\":418}\n"},
	} {
		if err := doc.CheckAnswer(c.method, c.path, c.status, c.ctype, []byte(c.body)); err == nil {
			t.Errorf("%s %s %d %s %.60s: passed the check", c.method, c.path, c.status, c.ctype, c.body)
		}
	}
	if err := doc.CheckRequest("POST", "/v1/jobs", "application/json", []byte(`{"type":"noop","colour":"red"}`)); err == nil {
		t.Error("a submit with an unknown field passed the request check")
	}
}
