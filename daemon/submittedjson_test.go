package daemon

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"kiln/api"
)

// A submit's answer reads the same whichever encoder writes it.
func TestWriteSubmitted_AsWriteJSON(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 14, 5, 6, 789, time.UTC)
	plain := &api.Submitted{Job: api.Job{ID: "01KBM7ZQ3X9T4V2N8C6R5W1Y0H", Queue: "default", Type: "noop", RunAt: now, MaxAttempts: 3, State: "queued", CreatedAt: now, UpdatedAt: now}}
	withPayload := *plain
	withPayload.Payload = json.RawMessage(`{"a":1}`) // not the plain shape: encoding/json writes it
	for name, s := range map[string]*api.Submitted{"plain": plain, "with a payload": &withPayload} {
		fast, slow := httptest.NewRecorder(), httptest.NewRecorder()
		writeSubmitted(fast, http.StatusCreated, s)
		writeJSON(slow, http.StatusCreated, s)
		if fast.Code != slow.Code || fast.Header().Get("Content-Type") != slow.Header().Get("Content-Type") || fast.Body.String() != slow.Body.String() {
			t.Errorf("%s: writeSubmitted %d %q %q, writeJSON %d %q %q", name, fast.Code, fast.Header().Get("Content-Type"), fast.Body, slow.Code, slow.Header().Get("Content-Type"), slow.Body)
		}
	}
}
