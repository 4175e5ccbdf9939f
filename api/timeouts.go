package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Timeouts bound how long a Client waits for kilnd; zero waits as long as
// it takes.
type Timeouts struct {
	// Connect bounds connecting to the socket.
	Connect time.Duration
	// Response bounds each request from when it is sent until its answer
	// begins (the status and headers). A request that waits on purpose
	// gets its wait on top (Job with a wait); the answers of Events and
	// of a Submitter's stream go on as long as the stream, and only their
	// start is bounded.
	Response time.Duration
}

// The two timeouts, as TimeoutError.Op names them.
const (
	ConnectTimeout  = "connect"
	ResponseTimeout = "response"
)

// TimeoutError is a request given up because kilnd did not connect or did
// not answer within the Client's Timeouts. After a response timeout the
// daemon may still carry the request out.
type TimeoutError struct {
	Op     string // ConnectTimeout or ResponseTimeout
	After  time.Duration
	Socket string
	Err    error // the dial's own error, for a connect timeout
}

func (e *TimeoutError) Error() string {
	if e.Op == ConnectTimeout {
		return fmt.Sprintf("connect to kilnd at %s: no connection within the connect timeout of %s", e.Socket, e.After)
	}
	return fmt.Sprintf("kilnd at %s did not answer within the response timeout of %s", e.Socket, e.After)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// Timeout reports true, as net.Error's Timeout does.
func (e *TimeoutError) Timeout() bool { return true }

// waitKey carries how long a request asks the daemon to hold its answer.
type waitKey struct{}

// withWait marks ctx's request as one the daemon holds for up to wait:
// the response timeout counts from the end of that wait.
func withWait(ctx context.Context, wait time.Duration) context.Context {
	if wait <= 0 {
		return ctx
	}
	return context.WithValue(ctx, waitKey{}, wait)
}

// boundedTransport gives up on a request whose answer has not begun within
// the response timeout (plus the request's wait). Once the answer has
// begun its body is the caller's to read for as long as it lasts.
type boundedTransport struct {
	next     http.RoundTripper
	response time.Duration
	socket   string
}

func (t *boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A body net/http cannot read again is a stream (a pipe): one that has
	// it wait for more.
	streaming := req.Body != nil && req.GetBody == nil
	if t.response <= 0 && !streaming {
		return t.next.RoundTrip(req)
	}
	wait, _ := req.Context().Value(waitKey{}).(time.Duration)
	expired := &TimeoutError{Op: ResponseTimeout, After: t.response, Socket: t.socket}
	ctx, cancel := context.WithCancelCause(req.Context())
	// net/http returns from a cancelled request only once it has stopped
	// sending the request's body; a streaming submit's body would keep it
	// waiting for the next job. Closing the body ends that.
	if streaming {
		stopClosing := context.AfterFunc(ctx, func() { req.Body.Close() })
		defer stopClosing()
	}
	if t.response <= 0 {
		resp, err := t.next.RoundTrip(req.WithContext(ctx))
		if err != nil {
			cancel(nil)
			return nil, err
		}
		resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
		return resp, nil
	}
	timer := time.AfterFunc(wait+t.response, func() { cancel(expired) })
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if !timer.Stop() {
		// The answer began too late, or not at all.
		if resp != nil {
			resp.Body.Close()
		}
		cancel(expired)
		return nil, expired
	}
	if err != nil {
		cancel(nil)
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases a request's context once its answer is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}
