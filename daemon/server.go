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
	"kiln/kilntype"
	"kiln/worker"
)

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
	// open are the patterns of the routes that the TCP listener serves
	// without a token (route.open).
	open map[string]bool
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
	// guard holds the control socket to [limits].
	guard *listenerGuard
}

func newControlServer(d *daemon, log *slog.Logger) *controlServer {
	s := &controlServer{d: d, log: log, failed: make(chan error, 1), streamsEnd: make(chan struct{})}
	s.stopping, s.endStreams = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	s.open = map[string]bool{}
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, rt.handler)
		s.open[rt.pattern] = rt.open
	}
	s.mux = mux
	s.guard = newListenerGuard(d, "control socket", false)
	s.srv = s.guard.server(mux)
	s.srv.RegisterOnShutdown(s.stopStreams)
	s.srv.RegisterOnShutdown(s.guard.shutdown)
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
	cfg := s.d.config()
	if w := cfg.Limits.fileLimitWarning(cfg.HTTP.Listen != ""); w != "" {
		s.log.Warn(w)
	}
	ln = s.guard.listen(ln)
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
		writeDecodeError(w, r, err)
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
	writeSubmitted(w, code, submitted(j, duplicate[0]))
}

func (s *controlServer) submitBatch(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > largeBody || r.ContentLength < 0 {
		// Many large batches read at once would hold their bodies, and
		// the jobs decoded from them, all in memory: they take turns.
		if g := guardOf(r.Context()); g != nil {
			lim := g.limits()
			if !g.large.take(r.Context(), lim.MaxLargeBodies, lim.BodyTimeout.Std()) {
				msg := fmt.Sprintf("busy: %d batch bodies over %d MiB are being read (limits.max_large_bodies); retry, or send smaller batches", lim.MaxLargeBodies, largeBody>>20)
				refuseRequest(r, "request refused: too many large bodies at once", "")
				endAfterAnswer(w, r)
				w.Header().Set("Retry-After", "1")
				writeError(w, http.StatusServiceUnavailable, msg)
				return
			}
			defer g.large.give()
			// The wait took from the body's time: it starts now.
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(lim.BodyTimeout.Std()))
		}
	}
	var req api.BatchRequest
	if err := decodeStrict(w, r, bodyLimitOf(r, batchBody), &req); err != nil {
		writeDecodeError(w, r, err)
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

// jobWaiter is a backend that waits for a job's end itself: a rabbitmq
// host that keeps no job records would not see another host end it, and
// asks one that keeps them to wait.
type jobWaiter interface {
	WaitFinished(ctx context.Context, id string) (*worker.JobRecord, error)
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
	if wait > 0 {
		// The answer is written once the wait is over.
		if g := guardOf(r.Context()); g != nil {
			_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + g.limits().WriteTimeout.Std()))
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	if waiter, ok := s.d.queue.(jobWaiter); ok && wait > 0 {
		// A stopping daemon does not wait out the client's wait.
		defer context.AfterFunc(s.stopping, cancel)()
		j, err := waiter.WaitFinished(ctx, id)
		if err != nil {
			s.writeStoreError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, s.d.apiJob(j))
		return
	}
	for {
		changed := s.d.queue.Changed()
		// The lookup is not bounded by the wait: a backend may ask another
		// host for the job, also when there is no wait.
		j, err := s.d.queue.Get(r.Context(), id)
		if err != nil {
			s.writeStoreError(w, err)
			return
		}
		if j.State.Terminal() || wait == 0 {
			writeJSON(w, http.StatusOK, s.d.apiJob(j))
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			writeJSON(w, http.StatusOK, s.d.apiJob(j))
			return
		case <-s.stopping.Done():
			// A stopping daemon does not wait out the client's wait.
			writeJSON(w, http.StatusOK, s.d.apiJob(j))
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
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit: %q is not a positive number", v))
			return
		}
		limit = n
	}
	// A page is held in memory whole: a longer one is cut at max_list_page
	// and names the next, as every page that is not the last does.
	limit = min(limit, s.d.config().Limits.MaxListPage)
	jobs, next, err := s.listPage(r.Context(), q.Get("queue"), state, q.Get("after"), limit)
	if err != nil {
		var fe *worker.FieldError
		if errors.As(err, &fe) {
			writeError(w, http.StatusBadRequest, fe.Error())
			return
		}
		s.writeStoreError(w, err)
		return
	}
	out := api.JobList{Jobs: make([]*api.Job, len(jobs)), Next: next}
	for i, j := range jobs {
		out.Jobs[i] = s.d.apiJob(j)
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
	writeJSON(w, http.StatusOK, api.Cancelled{Job: *s.d.apiJob(j), Stopping: stopping})
}

func (s *controlServer) retry(w http.ResponseWriter, r *http.Request) {
	j, err := s.d.queue.Retry(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	s.log.Info("job retried on request", "job", j.ID)
	writeJSON(w, http.StatusOK, s.d.apiJob(j))
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

// bodyKind names which [limits] cap a request body is under.
type bodyKind int

const (
	submitBody bodyKind = iota // a single submit: max_submit_body
	batchBody                  // a batch: max_batch_body
)

// bodyLimit is a request body's cap, and what to say of a body over it.
type bodyLimit struct {
	n       int64
	key     string
	advice  string
	timeout time.Duration // body_timeout, for the message when it runs out
}

func bodyLimitOf(r *http.Request, kind bodyKind) bodyLimit {
	lim := defaultLimits()
	if g := guardOf(r.Context()); g != nil {
		lim = *g.limits()
	}
	if kind == submitBody {
		return bodyLimit{n: int64(lim.MaxSubmitBody), key: "limits.max_submit_body", timeout: lim.BodyTimeout.Std(),
			advice: fmt.Sprintf("a job carries at most %d KiB of payload, a path to its input rather than the input; send many jobs as a batch or a stream", worker.MaxPayload>>10)}
	}
	return bodyLimit{n: int64(lim.MaxBatchBody), key: "limits.max_batch_body", timeout: lim.BodyTimeout.Std(),
		advice: "jobs carry a path to their input, not the input; split the batch, or send the jobs as a stream"}
}

// tooLarge is the refusal of a body over its cap.
func (l bodyLimit) tooLarge() error {
	return newLimitError(http.StatusRequestEntityTooLarge, "request body over %d bytes (%s = %q): %s", l.n, l.key, l.String(), l.advice)
}

func (l bodyLimit) String() string { return fmt.Sprint(kilntype.ByteSize(l.n)) }

// openBody checks a body's declared length against its cap, so that a body
// announced too large is refused before a byte of it is read, and returns
// the body bounded by the cap.
func openBody(w http.ResponseWriter, r *http.Request, l bodyLimit) (io.Reader, error) {
	if r.ContentLength > l.n {
		return nil, l.tooLarge()
	}
	return http.MaxBytesReader(w, r.Body, l.n), nil
}

// bodyRead is called once a body has been read to its end: its deadline
// is lifted, so that it cannot run out while the request is served (which
// would cancel the request's context).
func bodyRead(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
}

// decodeStrict reads one JSON object, refusing unknown fields and trailing
// data, and names the offending field in its error.
func decodeStrict(w http.ResponseWriter, r *http.Request, l bodyLimit, v any) error {
	rd, err := openBody(w, r, l)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return explainDecodeError(err, l)
	}
	if err := expectEnd(io.MultiReader(dec.Buffered(), rd)); err != nil {
		return explainDecodeError(err, l)
	}
	bodyRead(w)
	return nil
}

// expectEnd reads the rest of a body after its object: white space only.
func expectEnd(rd io.Reader) error {
	var buf [512]byte
	for {
		n, err := rd.Read(buf[:])
		if len(bytes.TrimLeft(buf[:n], " \t\r\n")) > 0 {
			return errDataAfterObject
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

var errDataAfterObject = errors.New("invalid JSON: data after the object")

// decodeStrictFrom is decodeStrict on any reader.
func decodeStrictFrom(rd io.Reader, v any) error {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return explainDecodeError(err, bodyLimit{})
	}
	if dec.More() {
		return errDataAfterObject
	}
	return nil
}

// decodeSubmit reads a one-job submit as decodeStrict would, the busiest
// request's cheaper way: the body whole, then decodeSubmitPlain, or
// decodeObject for what that does not take.
func decodeSubmit(w http.ResponseWriter, r *http.Request, req *api.SubmitRequest) error {
	l := bodyLimitOf(r, submitBody)
	rd, err := openBody(w, r, l)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		// ReadFrom asks for MinRead bytes of room before each read, the
		// one that meets the end too: without them it would grow the
		// buffer, a copy of the whole body, to learn that there is no more.
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(rd); err != nil {
		return explainDecodeError(err, l)
	}
	bodyRead(w)
	if decodeSubmitPlain(buf.Bytes(), req, nil) {
		return nil
	}
	return decodeObject(buf.Bytes(), req, submitFields)
}

// writeDecodeError answers a request whose body could not be read: 400
// for a bad object; for a body over its cap or too slow, the limit's
// status, and the connection is closed without reading the rest.
func writeDecodeError(w http.ResponseWriter, r *http.Request, err error) {
	var le *limitError
	if errors.As(err, &le) {
		refuseRequest(r, "request refused: "+http.StatusText(le.status), "")
		endAfterAnswer(w, r)
		writeError(w, le.status, le.msg)
		return
	}
	writeError(w, http.StatusBadRequest, err.Error())
}

// explainDecodeError says what is wrong with a JSON request in the terms
// of its fields, or of the limit l it met.
func explainDecodeError(err error, l bodyLimit) error {
	var typeErr *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &typeErr):
		return fmt.Errorf("%s: must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &tooBig):
		return l.tooLarge()
	case errors.As(err, &netErr) && netErr.Timeout():
		return newLimitError(http.StatusRequestTimeout, "request body not received within %s (limits.body_timeout)", l.timeout)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "json: "))
	case errors.Is(err, io.EOF):
		return errors.New("empty request body: expected a JSON object")
	case errors.Is(err, errDataAfterObject):
		return err
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
