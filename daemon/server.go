package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"kiln/api"
	"kiln/worker"
)

// maxRequestBody bounds a control request: jobs carry paths, not pictures.
const maxRequestBody = 8 << 20

// maxJobsPerBatch bounds the jobs of one batch submit request.
const maxJobsPerBatch = 10000

// maxWait bounds GET /v1/jobs/{id}?wait=.
const maxWait = 10 * time.Minute

// controlServer serves the control API on the unix socket.
type controlServer struct {
	d   *daemon
	log *slog.Logger
	srv *http.Server
	mux *http.ServeMux // the routes, shared with the TCP listener
	// streamsEnd is closed at shutdown to end the event streams, which
	// never go idle on their own.
	streamsEnd  chan struct{}
	streamsOnce sync.Once
	// failed delivers the error that ended serving, if it was not a
	// shutdown.
	failed chan error
	// stopping is done once shutdown has begun: open streams stop reading.
	stopping   context.Context
	endStreams context.CancelFunc
}

func newControlServer(d *daemon, log *slog.Logger) *controlServer {
	s := &controlServer{d: d, log: log, failed: make(chan error, 1), streamsEnd: make(chan struct{})}
	s.stopping, s.endStreams = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	v := api.Version
	mux.HandleFunc("POST "+v+"/jobs", s.submit)
	mux.HandleFunc("POST "+v+"/jobs/batch", s.submitBatch)
	mux.HandleFunc("POST "+api.StreamPath, s.submitStream)
	mux.HandleFunc("GET "+v+"/jobs", s.list)
	mux.HandleFunc("DELETE "+v+"/jobs", s.purge)
	mux.HandleFunc("GET "+v+"/jobs/{id}", s.job)
	mux.HandleFunc("POST "+v+"/jobs/{id}/cancel", s.cancel)
	mux.HandleFunc("POST "+v+"/jobs/{id}/retry", s.retry)
	mux.HandleFunc("POST "+v+"/dead/retry", s.retryDead)
	mux.HandleFunc("POST "+v+"/queues/{name}/pause", s.pause)
	mux.HandleFunc("POST "+v+"/queues/{name}/resume", s.resume)
	mux.HandleFunc("GET "+v+"/status", s.status)
	mux.HandleFunc("POST "+v+"/reload", s.reload)
	mux.HandleFunc("GET "+v+"/events", s.events)
	mux.Handle("GET /metrics", d.metrics.Handler())
	s.mux = mux
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.srv.RegisterOnShutdown(s.stopStreams)
	return s
}

// stopStreams ends the long answers, submit streams and event streams, so
// that a shutdown does not wait for their clients.
func (s *controlServer) stopStreams() {
	s.endStreams()
	s.endEventStreams()
}

// start serves ln until shutdown; an error that ends serving otherwise is
// delivered on failed.
func (s *controlServer) start(ln net.Listener) {
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.failed <- err
		}
	}()
}

func (s *controlServer) shutdown(ctx context.Context) error {
	s.stopStreams()
	return s.srv.Shutdown(ctx)
}

func (s *controlServer) submit(w http.ResponseWriter, r *http.Request) {
	var req api.SubmitRequest
	if err := decodeSubmit(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	j, err := s.d.buildJob(req, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	duplicate, err := s.d.queue.Submit(r.Context(), j)
	if err != nil {
		s.log.Error("submit refused", "queue", j.Queue, "type", j.Type, "err", err)
		writeError(w, submitStatus(err), err.Error())
		return
	}
	code := http.StatusCreated
	if duplicate[0] {
		code = http.StatusOK
	} else if s.log.Enabled(r.Context(), slog.LevelInfo) {
		s.log.Info("job queued", "job", j.ID, "queue", j.Queue, "type", j.Type, "payload", string(j.Payload))
	}
	writeJSON(w, code, submitted(j, duplicate[0]))
}

func (s *controlServer) submitBatch(w http.ResponseWriter, r *http.Request) {
	var req api.BatchRequest
	if err := decodeStrict(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if len(req.Jobs) == 0 || len(req.Jobs) > maxJobsPerBatch {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("jobs: a batch holds 1 to %d jobs, not %d", maxJobsPerBatch, len(req.Jobs)))
		return
	}
	now := time.Now()
	jobs := make([]*worker.JobRecord, len(req.Jobs))
	for i, jr := range req.Jobs {
		j, err := s.d.buildJob(jr, now)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("jobs[%d].%v", i, err))
			return
		}
		jobs[i] = j
	}
	duplicate, err := s.d.queue.Submit(r.Context(), jobs...)
	if err != nil {
		s.log.Error("batch submit refused", "jobs", len(jobs), "err", err)
		writeError(w, submitStatus(err), err.Error())
		return
	}
	s.log.Info("jobs queued", "jobs", len(jobs), "first", jobs[0].ID)
	out := api.SubmittedList{Jobs: make([]*api.Submitted, len(jobs))}
	for i, j := range jobs {
		out.Jobs[i] = submitted(j, duplicate[i])
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *controlServer) job(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("wait: %q is not a duration", v))
			return
		}
		wait = min(d, maxWait)
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	for {
		changed := s.d.queue.Changed()
		j, err := s.d.queue.Get(ctx, id)
		if err != nil {
			s.writeStoreError(w, err)
			return
		}
		if j.State.Terminal() || wait == 0 {
			writeJSON(w, http.StatusOK, apiJob(j))
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			writeJSON(w, http.StatusOK, apiJob(j))
			return
		}
	}
}

func (s *controlServer) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := worker.State(q.Get("state"))
	if state != "" && !state.Valid() {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("state: %q is not one of %v", state, worker.States))
		return
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: %q is not a number from 1 to 100000", v))
			return
		}
		limit = n
	}
	jobs, err := s.d.queue.List(r.Context(), q.Get("queue"), state, limit)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	out := api.JobList{Jobs: make([]*api.Job, len(jobs))}
	for i, j := range jobs {
		out.Jobs[i] = apiJob(j)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *controlServer) purge(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := worker.State(q.Get("state"))
	if !state.Terminal() {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("state: %q: only succeeded, dead or cancelled jobs are purged", state))
		return
	}
	var older time.Duration
	if v := q.Get("older_than"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("older_than: %q is not a duration", v))
			return
		}
		older = d
	}
	n, err := s.d.queue.Purge(r.Context(), q.Get("queue"), state, older)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	s.log.Info("jobs purged on request", "state", state, "queue", q.Get("queue"), "older_than", older, "jobs", n)
	writeJSON(w, http.StatusOK, api.Count{Count: n})
}

func (s *controlServer) cancel(w http.ResponseWriter, r *http.Request) {
	j, err := s.d.queue.Cancel(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	stopping := j.State == worker.StateRunning
	if stopping {
		s.d.pool.Cancel(j.ID)
	}
	s.log.Info("job cancelled on request", "job", j.ID, "was", j.State)
	writeJSON(w, http.StatusOK, api.Cancelled{Job: *apiJob(j), Stopping: stopping})
}

func (s *controlServer) retry(w http.ResponseWriter, r *http.Request) {
	j, err := s.d.queue.Retry(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	s.log.Info("job retried on request", "job", j.ID)
	writeJSON(w, http.StatusOK, apiJob(j))
}

func (s *controlServer) retryDead(w http.ResponseWriter, r *http.Request) {
	queue := r.URL.Query().Get("queue")
	n, err := s.d.queue.RetryAll(r.Context(), queue)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	s.log.Info("dead jobs retried on request", "queue", queue, "jobs", n)
	writeJSON(w, http.StatusOK, api.Count{Count: n})
}

func (s *controlServer) pause(w http.ResponseWriter, r *http.Request) {
	s.pauseResume(w, r, true)
}

func (s *controlServer) resume(w http.ResponseWriter, r *http.Request) {
	s.pauseResume(w, r, false)
}

func (s *controlServer) pauseResume(w http.ResponseWriter, r *http.Request, pause bool) {
	name := r.PathValue("name")
	if _, ok := s.d.config().Queues[name]; !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("queue %q is not configured", name))
		return
	}
	op, change := "resumed", s.d.queue.Resume
	if pause {
		op, change = "paused", s.d.queue.Pause
	}
	if err := change(r.Context(), name); err != nil {
		s.writeStoreError(w, err)
		return
	}
	s.log.Info("queue "+op, "queue", name)
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *controlServer) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.d.status(r.Context())
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// reload answers whether the config file was applied: 200 naming it, or
// 422 with every error in it while the running config stays.
func (s *controlServer) reload(w http.ResponseWriter, r *http.Request) {
	if err := s.d.reload(); err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, api.Reloaded{Config: s.d.config().Source})
}

func (s *controlServer) writeStoreError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, worker.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, worker.ErrWrongState):
		writeError(w, http.StatusConflict, err.Error())
	default:
		s.log.Error("store operation failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, err.Error())
	}
}

// decodeStrict reads one JSON object, refusing unknown fields and trailing
// data, and names the offending field in its error.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeStrictFrom(http.MaxBytesReader(w, r.Body, maxRequestBody), v)
}

// decodeStrictFrom is decodeStrict on any reader.
func decodeStrictFrom(rd io.Reader, v any) error {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return explainDecodeError(err)
	}
	if dec.More() {
		return errors.New("invalid JSON: data after the object")
	}
	return nil
}

// decodeSubmit reads a one-job submit as decodeStrict would, the busiest
// request's cheaper way: the body whole, then decodeObject.
func decodeSubmit(w http.ResponseWriter, r *http.Request, req *api.SubmitRequest) error {
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= maxRequestBody {
		buf.Grow(int(r.ContentLength))
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxRequestBody)); err != nil {
		return explainDecodeError(err)
	}
	return decodeObject(buf.Bytes(), req, submitFields)
}

// explainDecodeError says what is wrong with a JSON request in the terms
// of its fields.
func explainDecodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Errorf("%s: must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &tooBig):
		return fmt.Errorf("request body over %d bytes: jobs carry a path to their input, not the input", tooBig.Limit)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "json: "))
	case errors.Is(err, io.EOF):
		return errors.New("empty request body: expected a JSON object")
	}
	return fmt.Errorf("invalid JSON: %v", err)
}

// jsonKind names a Go kind as a JSON user knows it.
func jsonKind(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "bool":
		return "true or false"
	case kind == "slice":
		return "an array"
	case kind == "struct", kind == "map":
		return "an object"
	}
	return "a " + kind
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, api.Error{Error: msg})
}
