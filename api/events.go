package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"kiln/kilntype"
)

// Event is one change of a job's state, as GET /v1/events streams it (a
// Server-Sent Event of type "job" whose id is ID). IDs increase with every
// event kept: by one on the local backend; on the rabbitmq backend they are
// taken from the broker's stream offsets, the same on every host, and leave
// room between them.
type Event struct {
	ID      uint64         `json:"id"`
	Time    time.Time      `json:"time"`
	Job     string         `json:"job"`
	Queue   string         `json:"queue"`
	Type    string         `json:"type"`
	State   kilntype.State `json:"state"`
	From    kilntype.State `json:"from,omitempty"` // "" when the job was just submitted
	Attempt int            `json:"attempt"`
	Error   string         `json:"error,omitempty"`
}

// Gap is the data of a "gap" event: the events after After up to
// FirstKept-1 are no longer kept (retention removed them), so a reader
// resuming after After has missed them. The stream goes on at FirstKept.
type Gap struct {
	After     uint64 `json:"after"`
	FirstKept uint64 `json:"first_kept"`
}

// ProgressEvent is the data of a "progress" event, sent to a stream that
// asks for them (progress=true): how far a running job has got, as its
// handler last said. It has no ID, as progress is shown, never kept: a
// stream that starts or resumes gets the latest progress of every running
// job it follows, and each report after that, a few a second at most.
type ProgressEvent struct {
	Job      string            `json:"job"`
	Queue    string            `json:"queue"`
	Type     string            `json:"type"`
	Attempt  int               `json:"attempt"`
	Progress kilntype.Progress `json:"progress"`
}

// SSE event types of GET /v1/events.
const (
	EventTypeJob      = "job"
	EventTypeGap      = "gap"
	EventTypeProgress = "progress"
)

// EventsRequest selects the events of GET /v1/events.
type EventsRequest struct {
	// Since resumes after this event ID (sent as Last-Event-ID). Zero with
	// FromStart unset means only events from now on.
	Since     uint64
	FromStart bool // from the oldest event kept
	Queue     string
	Job       string
	States    []kilntype.State
	// Follow keeps the stream open for new events; without it the stream
	// ends once the events so far have been sent.
	Follow bool
	// Progress asks a followed stream for the progress of running jobs too
	// (StreamItem.Progress).
	Progress bool
}

// Query is the request's URL query.
func (r EventsRequest) Query() url.Values {
	q := url.Values{}
	if r.FromStart {
		q.Set("since", "0")
	}
	if r.Queue != "" {
		q.Set("queue", r.Queue)
	}
	if r.Job != "" {
		q.Set("job", r.Job)
	}
	if len(r.States) > 0 {
		s := make([]string, len(r.States))
		for i, st := range r.States {
			s[i] = string(st)
		}
		q.Set("state", strings.Join(s, ","))
	}
	if !r.Follow {
		q.Set("follow", "false")
	}
	if r.Progress {
		q.Set("progress", "true")
	}
	return q
}

// StreamItem is one event of the stream: a job event, a gap, or, when
// asked for, a running job's progress.
type StreamItem struct {
	Event    *Event
	Gap      *Gap
	Progress *ProgressEvent
}

// Events streams events to fn until the stream ends, ctx is done or fn
// returns an error. A reader that wants to resume after a disconnect calls
// it again with Since set to the last Event.ID it got.
func (c *Client) Events(ctx context.Context, r EventsRequest, fn func(StreamItem) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://kiln"+Version+"/events?"+r.Query().Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if r.Since > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(r.Since, 10))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("connect to kilnd at %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e Error
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error == "" {
			e.Error = resp.Status
		}
		return &RequestError{Status: resp.StatusCode, Message: e.Error}
	}
	return ReadEventStream(resp.Body, fn)
}

// ReadEventStream parses a text/event-stream of kiln events.
func ReadEventStream(body interface{ Read([]byte) (int, error) }, fn func(StreamItem) error) error {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var typ string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if data.Len() > 0 {
				var item StreamItem
				var err error
				switch typ {
				case EventTypeGap:
					item.Gap = &Gap{}
					err = json.Unmarshal([]byte(data.String()), item.Gap)
				case EventTypeJob, "":
					item.Event = &Event{}
					err = json.Unmarshal([]byte(data.String()), item.Event)
				case EventTypeProgress:
					item.Progress = &ProgressEvent{}
					err = json.Unmarshal([]byte(data.String()), item.Progress)
				}
				if err != nil {
					return fmt.Errorf("read %s event: %w", typ, err)
				}
				if item.Event != nil || item.Gap != nil || item.Progress != nil {
					if err := fn(item); err != nil {
						return err
					}
				}
			}
			typ = ""
			data.Reset()
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			typ = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
	return sc.Err()
}
