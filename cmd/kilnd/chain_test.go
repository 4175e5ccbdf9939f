package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"kiln/api"
	"kiln/kilntype"
)

// A chain of three noop steps on the real kilnd: each step a job of its
// own, linked to the step before and after it in the API's answers, in
// kilnctl job and on the dashboard's job page; a chain that names a kind
// kilnd lacks fails its first step for good, saying so.
func TestChainThroughKilnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := freeAddr(t)
	base := "http://" + addr
	tokens := e.writeTokens(t, tokenLine{"viewer", "read", "viewer-token-0123456789"})
	e.writeConfig(t, e.configText("", httpTable(addr, tokens, "")))
	e.start(t)
	ctx := context.Background()

	sub, err := e.client().Submit(ctx, api.SubmitRequest{Type: "noop", Payload: json.RawMessage(`{"then":["noop","noop"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{sub.ID, sub.ID + "-1", sub.ID + "-1-1"}
	// Each step is stored by its parent's success, so it is there once
	// the step before has finished.
	for i, id := range ids {
		j := e.finished(t, id)
		if j.State != kilntype.StateSucceeded {
			t.Fatalf("step %d (%s) ended %s: %s", i+1, id, j.State, j.LastError)
		}
		var parent string
		var children []string
		if i > 0 {
			parent = ids[i-1]
		}
		if i < len(ids)-1 {
			children = ids[i+1 : i+2]
		}
		if j.Parent != parent || !slices.Equal(j.Children, children) {
			t.Fatalf("step %d in the API: parent %q children %v, want %q %v", i+1, j.Parent, j.Children, parent, children)
		}
	}

	r := e.kilnctl(t, "job", ids[1])
	for _, want := range []string{"parent    " + ids[0] + " (succeeded)", "children  " + ids[2] + " (succeeded)"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("kilnctl job %s (exit %d) does not show %q:\n%s%s", ids[1], r.code, want, r.stdout, r.stderr)
		}
	}

	viewer := dashboardClient(t)
	postForm(t, viewer, base+"/ui/login", url.Values{"secret": {"viewer-token-0123456789"}}, "")
	code, page := getBody(t, viewer, base+"/ui/jobs/"+ids[1])
	if code != http.StatusOK || !strings.Contains(page, `id="chain"`) {
		t.Fatalf("job page of %s: %d, no chain:\n%s", ids[1], code, page)
	}
	for _, id := range []string{ids[0], ids[2]} {
		if !strings.Contains(page, `href="/ui/jobs/`+id+`"`) {
			t.Fatalf("job page of %s does not link %s:\n%s", ids[1], id, page)
		}
	}
	if n := strings.Count(page[strings.Index(page, `id="chain"`):], "state-succeeded"); n < 2 {
		t.Fatalf("job page of %s shows %d states in its chain, want the parent's and the child's", ids[1], n)
	}

	bad, err := e.client().Submit(ctx, api.SubmitRequest{Type: "noop", Payload: json.RawMessage(`{"then":["nosuch"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if j := e.finished(t, bad.ID); j.State != kilntype.StateDead || !strings.Contains(j.LastError, `no job kind "nosuch"`) || len(j.Children) != 0 {
		t.Fatalf("a chain naming no kind: %s %q children %v; want dead at once, saying why", j.State, j.LastError, j.Children)
	}
}
