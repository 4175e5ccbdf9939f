package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kiln/api"
	"kiln/worker"
	"kiln/worker/image"
)

// maxRequestBody bounds a control request: jobs carry paths, not pictures.
const maxRequestBody = 1 << 20

// maxWait bounds GET /v1/jobs/{id}?wait=.
const maxWait = 10 * time.Minute

// controlServer serves the control API on the unix socket.
type controlServer struct {
	d   *daemonState
	log *slog.Logger
	srv *http.Server
}

// listenControl opens the control socket, mode 0660: the kiln group may
// submit, others may not. A socket file left by a crash is replaced; the
// caller holds the pidfile, so no live daemon owns it.
func listenControl(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return ln, nil
}

func newControlServer(d *daemonState, log *slog.Logger) *controlServer {
	s := &controlServer{d: d, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.Version+"/jobs", s.submit)
	mux.HandleFunc("GET "+api.Version+"/jobs/{id}", s.job)
	mux.HandleFunc("GET "+api.Version+"/status", s.status)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s
}

func (s *controlServer) serve(ln net.Listener) error {
	if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *controlServer) shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

func (s *controlServer) submit(w http.ResponseWriter, r *http.Request) {
	var req api.SubmitRequest
	if err := decodeStrict(w, r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	cfg := s.d.config()
	pl, ok := cfg.Pipelines[req.Pipeline]
	switch {
	case req.Pipeline == "":
		writeError(w, http.StatusBadRequest, "pipeline: is required")
		return
	case !ok:
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("pipeline: unknown pipeline %q (configured: %s)", req.Pipeline, strings.Join(sortedKeys(cfg.Pipelines), ", ")))
		return
	case req.Input == "":
		writeError(w, http.StatusBadRequest, "input: is required")
		return
	case req.MaxAttempts < 0:
		writeError(w, http.StatusBadRequest, "max_attempts: must not be negative")
		return
	}
	payload, err := json.Marshal(image.Payload{Pipeline: req.Pipeline, Input: req.Input})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if err := s.d.images.Validate(payload); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "input: "+err.Error())
		return
	}
	job := &worker.Job{Queue: pl.Queue, Type: image.JobType, Payload: payload, MaxAttempts: req.MaxAttempts}
	if job.MaxAttempts == 0 {
		job.MaxAttempts = cfg.Queues[pl.Queue].MaxAttempts
	}
	if err := s.d.queue.Submit(r.Context(), job); err != nil {
		s.log.Error("submit failed", "pipeline", req.Pipeline, "input", req.Input, "err", err)
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	s.log.Info("job queued", "job", job.ID, "queue", job.Queue, "pipeline", req.Pipeline, "input", req.Input)
	writeJSON(w, http.StatusCreated, job)
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
		if errors.Is(err, worker.ErrNotFound) {
			writeError(w, http.StatusNotFound, fmt.Sprintf("job %s: not found", id))
			return
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if j.State.Terminal() || wait == 0 {
			writeJSON(w, http.StatusOK, j)
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			writeJSON(w, http.StatusOK, j)
			return
		}
	}
}

func (s *controlServer) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.d.status(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// decodeStrict reads one JSON object, refusing unknown fields and trailing
// data, and names the offending field in its error.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &typeErr):
			return fmt.Errorf("%s: must be a %s, not %s", typeErr.Field, typeErr.Type, typeErr.Value)
		case errors.As(err, &tooBig):
			return fmt.Errorf("request body over %d bytes: jobs carry a path to their input, not the input", tooBig.Limit)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "json: "))
		case errors.Is(err, io.EOF):
			return errors.New("empty request body: expected a JSON object")
		}
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if dec.More() {
		return errors.New("invalid JSON: data after the object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, api.Error{Error: msg})
}
