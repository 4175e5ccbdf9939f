package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"kiln/kilntype"
)

// Ack is the outcome of one job sent through a Submitter: the job as
// stored, or Err. Err is a *RequestError when the daemon refused the job
// (Status and the message naming the field); any other error means the
// stream broke before the job was answered, and whether it was stored is
// unknown.
type Ack struct {
	Tag       string
	ID        string
	Queue     string
	State     kilntype.State
	Duplicate bool
	Err       error
}

// Submitter sends jobs over one streaming submit without waiting for each:
// Submit returns as soon as the job is on its way, and its Ack arrives on
// Acks once the job is durable or refused. At most window jobs are
// unanswered at any time; Submit waits for room.
type Submitter struct {
	acks   chan Ack
	window chan struct{}
	kick   chan struct{} // a submit is waiting to be flushed
	body   *io.PipeWriter
	cancel context.CancelFunc

	// outMu guards out alone: a write to the connection can wait for the
	// daemon, and the reader, which answers the daemon, must never wait for
	// that.
	outMu sync.Mutex
	out   *bufio.Writer

	mu      sync.Mutex
	pending map[string]int // tags sent and not yet answered
	closed  bool
	broken  error // why the stream ended early, once it has

	flushed chan struct{} // the flusher has stopped
}

// NewSubmitter opens a streaming submit on its own connection. window
// bounds the unanswered jobs (0: 256). Read Acks until it is closed;
// Close ends the stream once everything is sent.
func (c *Client) NewSubmitter(ctx context.Context, window int) (*Submitter, error) {
	if window <= 0 {
		window = 256
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://kiln"+StreamPath, pr)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	s := &Submitter{
		acks:    make(chan Ack, window),
		window:  make(chan struct{}, window),
		kick:    make(chan struct{}, 1),
		body:    pw,
		cancel:  cancel,
		out:     bufio.NewWriterSize(pw, 32<<10),
		pending: map[string]int{},
		flushed: make(chan struct{}),
	}
	// The daemon answers with its headers before reading a line, so Do
	// returns while the body is still open.
	resp, err := c.http.Do(req)
	if err != nil {
		cancel()
		pw.Close()
		return nil, fmt.Errorf("open job stream to kilnd at %s: %w", c.socket, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e Error
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error == "" {
			e.Error = resp.Status
		}
		cancel()
		pw.Close()
		return nil, &RequestError{Status: resp.StatusCode, Message: e.Error}
	}
	go s.flush()
	go s.read(resp.Body)
	return s, nil
}

// Acks delivers one Ack per submitted job, then is closed after Close once
// every job has been answered (or the stream has broken).
func (s *Submitter) Acks() <-chan Ack { return s.acks }

// Submit sends one job tagged tag, waiting while window jobs are
// unanswered. Tags are the caller's: they come back in the jobs' Acks. An
// error means the job was not sent: the stream is closed or broken.
func (s *Submitter) Submit(ctx context.Context, tag string, req SubmitRequest) error {
	line, err := json.Marshal(StreamSubmit{Tag: tag, SubmitRequest: req})
	if err != nil {
		return fmt.Errorf("encode job %s: %w", tag, err)
	}
	select {
	case s.window <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	if s.closed || s.broken != nil {
		err := s.broken
		s.mu.Unlock()
		<-s.window
		if err == nil {
			err = errors.New("submit on a closed stream")
		}
		return fmt.Errorf("send job %s: %w", tag, err)
	}
	s.pending[tag]++
	s.mu.Unlock()
	s.outMu.Lock()
	s.out.Write(line)
	s.out.WriteByte('\n')
	s.outMu.Unlock()
	s.mu.Lock()
	if !s.closed {
		select {
		case s.kick <- struct{}{}:
		default: // a flush is due already
		}
	}
	s.mu.Unlock()
	return nil
}

// Close sends what is buffered and ends the stream; the remaining Acks
// follow, then Acks is closed. It does not wait for them.
func (s *Submitter) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.kick)
	s.mu.Unlock()
	<-s.flushed
	return s.body.Close()
}

// flush sends buffered lines whenever a submit asks, so that lines
// written while a send is under way go out together.
func (s *Submitter) flush() {
	defer close(s.flushed)
	for range s.kick {
		s.outMu.Lock()
		err := s.out.Flush()
		s.outMu.Unlock()
		if err != nil {
			s.fail(err)
		}
	}
	s.outMu.Lock()
	err := s.out.Flush()
	s.outMu.Unlock()
	if err != nil {
		s.fail(err)
	}
}

// fail marks the stream broken and cuts the request, so that the reader
// answers every unanswered job with the reason.
func (s *Submitter) fail(err error) {
	s.mu.Lock()
	if s.broken == nil {
		s.broken = err
	}
	s.mu.Unlock()
	s.cancel()
}

// read turns answer lines into Acks until the daemon ends the answer.
func (s *Submitter) read(body io.ReadCloser) {
	defer close(s.acks)
	defer body.Close()
	defer s.cancel()
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var a StreamAck
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			s.fail(fmt.Errorf("read job stream answer %q: %w", sc.Bytes(), err))
			break
		}
		s.mu.Lock()
		known := s.pending[a.Tag] > 0
		if known {
			if s.pending[a.Tag]--; s.pending[a.Tag] == 0 {
				delete(s.pending, a.Tag)
			}
		}
		s.mu.Unlock()
		if known {
			<-s.window
		}
		ack := Ack{Tag: a.Tag, ID: a.ID, Queue: a.Queue, State: a.State, Duplicate: a.Duplicate}
		if a.Error != "" {
			ack.Err = &RequestError{Status: a.Status, Message: a.Error}
		}
		s.acks <- ack
	}
	err := sc.Err()
	s.mu.Lock()
	if err == nil {
		err = s.broken
	}
	if err == nil {
		err = errors.New("kilnd ended the stream before answering")
	}
	if s.broken == nil {
		s.broken = err
	}
	left := s.pending
	s.pending = map[string]int{}
	s.mu.Unlock()
	for tag, n := range left {
		for range n {
			s.acks <- Ack{Tag: tag, Err: fmt.Errorf("job stream: %w", err)}
			<-s.window
		}
	}
}
