package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"kiln/api"
	"kiln/internal/jsonwrite"
	"kiln/worker"
)

const (
	// maxStreamLine bounds one line of a streaming submit: room for the
	// largest payload and the other fields, escaped.
	maxStreamLine = 256 << 10
	// streamWindow bounds the jobs of one stream read but not yet answered:
	// past it the daemon stops reading, and the client's writes wait.
	streamWindow = 8192
	// maxStreamGroup bounds the jobs handed to the store at once; a group
	// is what a stream has sent by the time the daemon looks again.
	maxStreamGroup = 1024
)

// streamJob is a line that became a job and waits to be stored.
type streamJob struct {
	tag string
	job *worker.JobRecord
}

// submitStream is POST /v1/jobs/stream: jobs in, one per line, and their
// answers out, one per line, on the same request. Each job is stored as a
// durable change of its own, many sharing one commit, and answered once it
// is durable; a bad line is answered with its error and the stream goes on.
func (s *controlServer) submitStream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	if err := rc.EnableFullDuplex(); err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("stream: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	// A stream may end with its body cut short (a line too slow, a
	// stopping daemon): what follows on the connection is no request.
	w.Header().Set("Connection", "close")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	lim := defaultLimits()
	g := guardOf(r.Context())
	if g != nil {
		lim = *g.limits()
	}
	// A stopping daemon ends the stream: reading stops at once, and what
	// was read is still stored and answered, to a client that takes the
	// answers within shutdownGrace. Until then, each line has line_timeout
	// once begun, and the wait for the next stream_idle_timeout; each
	// answer write_timeout.
	reads := newStreamDeadline(s.stopping, rc.SetReadDeadline, 0)
	defer reads.stop()
	writes := newStreamDeadline(s.stopping, rc.SetWriteDeadline, shutdownGrace)
	defer writes.stop()

	acks := make(chan []byte, streamWindow)
	written := make(chan struct{})
	go writeAcks(w, rc, acks, written, func() { writes.within(lim.WriteTimeout.Std()) })

	window := make(chan struct{}, streamWindow)
	var storing sync.WaitGroup
	var group []streamJob
	store := func() {
		if len(group) == 0 {
			return
		}
		g := group
		group = nil
		storing.Add(1)
		go func() {
			defer storing.Done()
			s.storeStreamGroup(r.Context(), g, acks)
			for range g {
				<-window
			}
		}()
	}

	next := &nextByte{r: r.Body}
	body := bufio.NewReaderSize(next, 64<<10)
	var lineNo int64
	for {
		if body.Buffered() == 0 {
			// At a line's start with nothing read ahead: the next line
			// may be waited for stream_idle_timeout, and has line_timeout
			// from its first byte on.
			reads.within(lim.StreamIdleTimeout.Std())
			next.wait()
		}
		reads.within(lim.LineTimeout.Std())
		line, err := readLine(body)
		if len(line) > 0 || errors.Is(err, errLineTooLong) {
			lineNo++
			if errors.Is(err, errLineTooLong) {
				acks <- encodeAck(nil, &api.StreamAck{Tag: salvageTag(line), Line: lineNo, Status: http.StatusBadRequest,
					Error: fmt.Sprintf("line over %d bytes: jobs carry a path to their input, not the input", maxStreamLine)})
			} else if sj, ack := s.parseStreamLine(line, lineNo); ack != nil {
				acks <- encodeAck(nil, ack)
			} else {
				window <- struct{}{}
				group = append(group, sj)
			}
		}
		// Hand over what has arrived once nothing more is waiting to be
		// read, so that a slow sender's jobs are not held back and a fast
		// one's share a commit.
		if len(group) >= maxStreamGroup || (len(group) > 0 && (body.Buffered() == 0 || err != nil)) {
			store()
		}
		if err != nil && !errors.Is(err, errLineTooLong) {
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() && s.stopping.Err() == nil {
				refuseRequest(r, "job stream cut off: no line within limits.line_timeout or limits.stream_idle_timeout", "",
					"line_timeout", lim.LineTimeout, "stream_idle_timeout", lim.StreamIdleTimeout, "lines", lineNo)
			}
			break
		}
	}
	storing.Wait()
	close(acks)
	<-written
}

// nextByte is a stream's body that can wait for its next byte alone. A
// read of a chunked body returns only once the chunk is in or the buffer
// full, so a wait through the line reader would also wait for a chunk
// trickled a byte at a time; a one-byte read returns with its first byte.
type nextByte struct {
	r   io.Reader
	b   [1]byte
	has bool  // b is read and not yet handed on
	err error // the body's error, handed on after b
}

// wait reads the next byte ahead, if none is.
func (n *nextByte) wait() {
	if n.has || n.err != nil {
		return
	}
	var k int
	k, n.err = n.r.Read(n.b[:])
	n.has = k == 1
}

func (n *nextByte) Read(p []byte) (int, error) {
	switch {
	case len(p) == 0:
		return 0, nil
	case n.has:
		p[0], n.has = n.b[0], false
		return 1, nil
	case n.err != nil:
		return 0, n.err
	}
	return n.r.Read(p)
}

// writeAcks writes answer lines, flushing whenever no other answer is
// waiting, until acks is closed. After a failed write it only drains, so
// that the stream's other goroutines never block on a client that left.
func writeAcks(w io.Writer, rc *http.ResponseController, acks <-chan []byte, written chan<- struct{}, beforeWrite func()) {
	defer close(written)
	failed := false
	for line := range acks {
		if failed {
			continue
		}
		beforeWrite()
		if _, err := w.Write(line); err != nil {
			failed = true
			continue
		}
		if len(acks) == 0 {
			if err := rc.Flush(); err != nil {
				failed = true
			}
		}
	}
}

// storeStreamGroup stores each job of a group as its own durable change
// and answers each.
func (s *controlServer) storeStreamGroup(ctx context.Context, group []streamJob, acks chan<- []byte) {
	jobs := make([]*worker.JobRecord, len(group))
	for i, sj := range group {
		jobs[i] = sj.job
	}
	duplicate, errs := worker.SubmitEach(ctx, s.d.queue, jobs)
	queued := 0
	var buf []byte
	for i, sj := range group {
		ack := api.StreamAck{Tag: sj.tag}
		if err := errs[i]; err != nil {
			ack.Error, ack.Status = err.Error(), submitStatus(err)
			s.log.Error("submit refused", "queue", sj.job.Queue, "type", sj.job.Type, "err", err)
		} else {
			ack.ID, ack.Queue, ack.State, ack.Duplicate = sj.job.ID, sj.job.Queue, sj.job.State, duplicate[i]
			if !duplicate[i] {
				queued++
			}
		}
		buf = encodeAck(buf[:0], &ack)
		acks <- bytes.Clone(buf)
	}
	if queued > 0 {
		// One line per group: a line per job would cost more than storing it.
		s.log.Info("jobs queued from a stream", "jobs", queued, "first", jobs[0].ID)
	}
}

// parseStreamLine turns one request line into a job, or into the answer
// that refuses it.
func (s *controlServer) parseStreamLine(line []byte, lineNo int64) (streamJob, *api.StreamAck) {
	var req api.StreamSubmit
	if err := decodeStreamLine(line, &req); err != nil {
		return streamJob{}, &api.StreamAck{Tag: salvageTag(line), Line: lineNo, Status: http.StatusBadRequest, Error: err.Error()}
	}
	if req.Tag == "" {
		return streamJob{}, &api.StreamAck{Line: lineNo, Status: http.StatusBadRequest, Error: "tag: is required: answers are matched to jobs by it"}
	}
	j, err := s.d.buildJob(req.SubmitRequest, time.Now())
	if err != nil {
		return streamJob{}, &api.StreamAck{Tag: req.Tag, Line: lineNo, Status: http.StatusBadRequest, Error: err.Error()}
	}
	return streamJob{tag: req.Tag, job: j}, nil
}

// salvageTag reads the tag of a line that could not be decoded strictly
// (an unknown field, a wrong type elsewhere), so that its error answer can
// still carry it; "" when the line is not JSON at all.
func salvageTag(line []byte) string {
	var t struct {
		Tag string `json:"tag"`
	}
	_ = json.Unmarshal(line, &t)
	return t.Tag
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its newline (and without a
// carriage return before it). A line longer than maxStreamLine is skipped
// up to its end and reported as errLineTooLong with its first bytes.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(line)+len(chunk) > maxStreamLine {
			head := append(line, chunk...)[:min(len(line)+len(chunk), 4096)]
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = r.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return nil, err
			}
			return head, errLineTooLong
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			line = append(line, chunk...)
			continue
		}
		if line != nil {
			line = append(line, chunk...)
		} else {
			// ReadSlice's bytes are only valid until the next read: copy.
			line = bytes.Clone(chunk)
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case err == nil:
			return line, nil
		case err == io.EOF && len(line) > 0:
			return line, nil // a last line without its newline
		}
		// A line cut short by a broken connection is no request.
		return nil, err
	}
}

// encodeAck appends one answer line. It is written by hand: at tens of
// thousands of answers a second, encoding/json's reflection shows up.
func encodeAck(b []byte, a *api.StreamAck) []byte {
	b = append(b, `{"tag":`...)
	b = jsonwrite.String(b, a.Tag)
	if a.ID != "" {
		b = append(b, `,"id":`...)
		b = jsonwrite.String(b, a.ID)
		b = append(b, `,"queue":`...)
		b = jsonwrite.String(b, a.Queue)
		b = append(b, `,"state":`...)
		b = jsonwrite.String(b, string(a.State))
	}
	if a.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	if a.Error != "" {
		b = append(b, `,"error":`...)
		b = jsonwrite.String(b, a.Error)
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(a.Status), 10)
	}
	if a.Line != 0 {
		b = append(b, `,"line":`...)
		b = strconv.AppendInt(b, a.Line, 10)
	}
	return append(b, "}\n"...)
}
