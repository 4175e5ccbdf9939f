package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"kiln/api"
	"kiln/worker"
)

// EventsConfig is the [events] table: how long the job events behind
// GET /v1/events are kept, and how many at most.
type EventsConfig struct {
	Keep Duration `toml:"keep"` // 0 = no time bound
	Max  int      `toml:"max"`  // 0 = no count bound
}

func (c *EventsConfig) validate(report func(key, msg string)) {
	if c.Keep < 0 {
		report("events.keep", "must not be negative (0 keeps events until max is reached)")
	}
	if c.Max < 0 {
		report("events.max", "must not be negative (0 means no count bound)")
	}
	if c.Keep == 0 && c.Max == 0 {
		report("events.max", "keep and max cannot both be 0: the event log would grow without bound")
	}
}

// eventsPerRead is how many events the stream reads from the store at a
// time, at most. Each subscriber holds what it read until it is written,
// and an event may carry its job's payload (64 KiB at most): the first
// read takes fewer, and each next one as many as fit in eventBytesPerRead
// at the size the last read's events had, at least minEventsPerRead.
const (
	eventsPerRead      = 512
	firstEventsPerRead = 64
	minEventsPerRead   = 16
	eventBytesPerRead  = 1 << 20
)

// keepaliveEvery is how often an idle event stream sends a comment, so that
// proxies and the client see the connection alive.
const keepaliveEvery = 15 * time.Second

// eventLog is the queue backend's event log, or nil if it keeps none.
func (d *daemon) eventLog() worker.EventLog {
	l, _ := any(d.queue).(worker.EventLog)
	return l
}

// leader is the backend's lead among hosts, or nil when it is not shared.
func (d *daemon) leader() worker.Leader {
	l, _ := any(d.queue).(worker.Leader)
	return l
}

// envEventsOff, set to 1, makes kilnd write no events: benchmarks set it
// to print what the event log costs beside the same daemon with it.
// Nothing else should, since event streams, webhooks and inbox results
// then hear of nothing.
const envEventsOff = "KILND_EVENTS_OFF"

// configureEvents hands the [events] bounds to the backend, asked at each
// commit so that a reload applies.
func (d *daemon) configureEvents() error {
	if os.Getenv(envEventsOff) == "1" {
		if s, ok := any(d.queue).(interface{ OmitEvents() }); ok {
			s.OmitEvents()
			d.log.Warn("events are not written (" + envEventsOff + "=1): event streams, webhooks and inbox results hear of no job")
		}
	}
	if s, ok := any(d.queue).(interface {
		SetEventRetention(func() worker.EventRetention)
	}); ok {
		s.SetEventRetention(func() worker.EventRetention {
			c := d.config().Events
			return worker.EventRetention{Keep: c.Keep.Std(), Max: c.Max}
		})
	}
	return nil
}

// events is GET /v1/events: Server-Sent Events, one per change of a job's
// state, each with its ID. A client that reconnects with Last-Event-ID (or
// ?since=ID) resumes right after it; if retention has removed events it has
// not seen, it is told so with a "gap" event before the stream goes on.
func (s *controlServer) events(w http.ResponseWriter, r *http.Request) {
	log := s.d.eventLog()
	if log == nil {
		writeError(w, http.StatusNotImplemented, "the "+s.d.config().Broker.Backend+" backend keeps no event log of its own: follow the broker's events exchange (<prefix>.events, routing key <queue>.<state>) instead")
		return
	}
	q := r.URL.Query()
	filter := worker.EventFilter{Queue: q.Get("queue"), Job: q.Get("job")}
	if v := q.Get("state"); v != "" {
		for _, st := range strings.Split(v, ",") {
			if !worker.State(st).Valid() {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("state: %q is not one of %v", st, worker.States))
				return
			}
			filter.States = append(filter.States, worker.State(st))
		}
	}
	follow := true
	if v := q.Get("follow"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("follow: %q is not true or false", v))
			return
		}
		follow = b
	}
	progress, err := s.d.progressFeed(q.Get("progress"), filter, follow)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	since := r.Header.Get("Last-Event-ID")
	if since == "" {
		since = q.Get("since")
	}
	g := guardOf(r.Context())
	if g != nil {
		// Each subscriber holds a connection and a reader of the store for
		// as long as it likes: the listener has room for so many.
		if !g.openEventStream() {
			refuseRequest(r, "event stream refused: too many subscribers", "", "limit", g.limits().MaxEventStreams)
			w.Header().Set("Retry-After", "10")
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("busy: %d event streams are open on this listener (limits.max_event_streams); retry later", g.limits().MaxEventStreams))
			return
		}
		defer g.closeEventStream()
	}
	head, err := log.Events(r.Context(), 0, filter, 0)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	// Without a starting point the stream starts now; since=0 starts at the
	// oldest event kept.
	after := head.Last
	if since != "" {
		n, err := strconv.ParseUint(since, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("Last-Event-ID or since: %q is not an event ID", since))
			return
		}
		after = n
		if n == 0 {
			after = head.FirstKept - 1
		}
	}

	rc := http.NewResponseController(w)
	// A subscriber that stops reading is cut off once a write has waited
	// write_timeout for it, and at once when the daemon stops: it must
	// hold neither a connection nor the shutdown.
	writeTimeout := defaultLimits().WriteTimeout.Std()
	if g != nil {
		writeTimeout = g.limits().WriteTimeout.Std()
	}
	writes := newStreamDeadline(s.stopping, rc.SetWriteDeadline, 0)
	defer writes.stop()
	send := func(b []byte) error {
		writes.within(writeTimeout)
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if err := send(nil); err != nil {
		return
	}
	keepalive := time.NewTicker(keepaliveEvery)
	defer keepalive.Stop()
	var buf bytes.Buffer
	perRead := firstEventsPerRead
	for {
		changed := log.EventsChanged()
		// Progress first: what a job reported came before the events that
		// end it.
		progress.write(&buf)
		asked := perRead
		page, err := log.Events(r.Context(), after, filter, asked)
		if err != nil {
			if r.Context().Err() == nil {
				s.log.Error("event stream: read failed", "after", after, "err", err)
			}
			return
		}
		if page.FirstKept > after+1 {
			// Retention got there first: say what is gone, never skip it
			// silently. The gap carries no ID, so a client that reconnects
			// before the next event is told again. It goes out with the
			// events that follow it.
			writeSSE(&buf, "", api.EventTypeGap, api.Gap{After: after, FirstKept: page.FirstKept})
			after = page.FirstKept - 1
			continue
		}
		start := buf.Len()
		for i := range page.Events {
			writeJobSSE(&buf, (*api.Event)(&page.Events[i]))
		}
		if n := len(page.Events); n > 0 {
			perRead = min(max(eventBytesPerRead/max((buf.Len()-start)/n, 1), minEventsPerRead), eventsPerRead)
		}
		after = page.Next
		if buf.Len() > 0 {
			if err := send(buf.Bytes()); err != nil {
				return
			}
			buf.Reset()
		}
		if len(page.Events) == asked || page.Next < page.Last {
			continue // more to read now
		}
		if !follow {
			return
		}
		select {
		case <-changed:
		case <-progress.ready():
		case <-keepalive.C:
			if err := send([]byte(": keepalive\n\n")); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.streamsEnd:
			return
		}
	}
}

// endEventStreams ends every event stream; called at shutdown, maybe twice.
func (s *controlServer) endEventStreams() {
	s.streamsOnce.Do(func() { close(s.streamsEnd) })
}

// writeJobSSE appends one job event as writeSSE would, with the event's
// own encoder: a stream writes one for every change of every job.
func writeJobSSE(buf *bytes.Buffer, e *api.Event) {
	b := buf.AvailableBuffer()
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, e.ID, 10)
	b = append(b, "\nevent: "+api.EventTypeJob+"\ndata: "...)
	b = e.AppendJSON(b)
	b = append(b, "\n\n"...)
	buf.Write(b)
}

// writeSSE appends one Server-Sent Event; data is JSON, on one line.
func writeSSE(buf *bytes.Buffer, id, typ string, data any) {
	if id != "" {
		buf.WriteString("id: ")
		buf.WriteString(id)
		buf.WriteByte('\n')
	}
	buf.WriteString("event: ")
	buf.WriteString(typ)
	buf.WriteString("\ndata: ")
	b, _ := json.Marshal(data) // api types always marshal
	buf.Write(b)
	buf.WriteString("\n\n")
}
