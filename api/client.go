package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"kiln/kilntype"
)

// DefaultSocket is where an installed kilnd listens.
const DefaultSocket = "/run/kiln/kiln.sock"

// Client talks to kilnd over its unix socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the socket at path that waits as long as
// the daemon takes.
func NewClient(socket string) *Client {
	return NewClientTimeouts(socket, Timeouts{})
}

// NewClientTimeouts returns a client for the socket at path that gives up
// on a daemon that does not connect or answer in time (a *TimeoutError).
func NewClientTimeouts(socket string, t Timeouts) *Client {
	return &Client{
		socket: socket,
		http: &http.Client{Transport: &boundedTransport{
			next:     sharedTransport(socket, t.Connect),
			response: t.Response,
			socket:   socket,
		}},
	}
}

// transports are the connection pools of the clients of this process, one
// per socket and connect timeout: a program that makes a Client for each
// request reuses the connections of the ones before, as with net/http's
// default transport, instead of leaving each one's idle connections open
// until the daemon's idle_timeout (and against its socket_max_connections).
var transports sync.Map // transportKey -> *http.Transport

type transportKey struct {
	socket  string
	connect time.Duration
}

func sharedTransport(socket string, connect time.Duration) *http.Transport {
	key := transportKey{socket, connect}
	if tr, ok := transports.Load(key); ok {
		return tr.(*http.Transport)
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: connect}
			conn, err := d.DialContext(ctx, "unix", socket)
			var ne net.Error
			if err != nil && connect > 0 && errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				return nil, &TimeoutError{Op: ConnectTimeout, After: connect, Socket: socket, Err: err}
			}
			return conn, err
		},
		// Every request goes to the one daemon: keep a connection per
		// concurrent caller instead of net/http's default of two.
		MaxIdleConnsPerHost: 256,
		// Shorter than the daemon's default idle_timeout, so that the
		// client, not the daemon, closes an idle connection: a request is
		// then never sent on one the daemon is closing.
		IdleConnTimeout: 50 * time.Second,
	}
	actual, _ := transports.LoadOrStore(key, tr)
	return actual.(*http.Transport)
}

// RequestError is an error answer from the daemon.
type RequestError struct {
	Status  int
	Message string
}

func (e *RequestError) Error() string { return e.Message }

// Submit queues one job and returns it once it is durable.
func (c *Client) Submit(ctx context.Context, req SubmitRequest) (*Submitted, error) {
	var j Submitted
	if err := c.do(ctx, http.MethodPost, Version+"/jobs", req, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Job returns a job. With wait > 0 the daemon holds the answer until the job
// has finished (succeeded, dead or cancelled) or wait has passed.
func (c *Client) Job(ctx context.Context, id string, wait time.Duration) (*Job, error) {
	path := Version + "/jobs/" + url.PathEscape(id)
	if wait > 0 {
		path += "?wait=" + url.QueryEscape(wait.String())
	}
	var j Job
	if err := c.do(withWait(ctx, wait), http.MethodGet, path, nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// SubmitBatch queues several jobs in one durable write: all or none.
func (c *Client) SubmitBatch(ctx context.Context, reqs []SubmitRequest) ([]*Submitted, error) {
	var out SubmittedList
	if err := c.do(ctx, http.MethodPost, Version+"/jobs/batch", BatchRequest{Jobs: reqs}, &out); err != nil {
		return nil, err
	}
	return out.Jobs, nil
}

// List returns up to limit jobs of a queue and state ("" = any), in the
// daemon's order (oldest first within a state and queue), following the
// pages the daemon answers in. limit 0 is the daemon's one
// page of 100.
func (c *Client) List(ctx context.Context, queue string, state kilntype.State, limit int) ([]*Job, error) {
	var all []*Job
	after := ""
	for {
		page, next, err := c.ListPage(ctx, queue, state, after, limit-len(all))
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == "" || limit <= 0 || len(all) >= limit {
			return all, nil
		}
		after = next
	}
}

// ListPage returns one page of jobs of a queue and state ("" = any): the
// first one with after "", the next with after the cursor the previous
// page returned. The cursor is "" after the last page. A page holds at
// most limit jobs (0: 100), and at most the daemon's max_list_page.
func (c *Client) ListPage(ctx context.Context, queue string, state kilntype.State, after string, limit int) ([]*Job, string, error) {
	q := url.Values{}
	if queue != "" {
		q.Set("queue", queue)
	}
	if state != "" {
		q.Set("state", string(state))
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	if after != "" {
		q.Set("after", after)
	}
	var out JobList
	if err := c.do(ctx, http.MethodGet, Version+"/jobs?"+q.Encode(), nil, &out); err != nil {
		return nil, "", err
	}
	return out.Jobs, out.Next, nil
}

// Cancel cancels a job; a running one is stopped and ends cancelled.
func (c *Client) Cancel(ctx context.Context, id string) (*Cancelled, error) {
	var j Cancelled
	if err := c.do(ctx, http.MethodPost, Version+"/jobs/"+url.PathEscape(id)+"/cancel", nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Retry puts a dead or cancelled job back in its queue.
func (c *Client) Retry(ctx context.Context, id string) (*Job, error) {
	var j Job
	if err := c.do(ctx, http.MethodPost, Version+"/jobs/"+url.PathEscape(id)+"/retry", nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// RetryDead retries every dead job of a queue ("" = all queues).
func (c *Client) RetryDead(ctx context.Context, queue string) (int, error) {
	var n Count
	err := c.do(ctx, http.MethodPost, Version+"/dead/retry?"+url.Values{"queue": {queue}}.Encode(), nil, &n)
	return n.Count, err
}

// Purge deletes finished jobs in state that finished more than olderThan ago.
func (c *Client) Purge(ctx context.Context, queue string, state kilntype.State, olderThan time.Duration) (int, error) {
	q := url.Values{"state": {string(state)}, "older_than": {olderThan.String()}}
	if queue != "" {
		q.Set("queue", queue)
	}
	var n Count
	err := c.do(ctx, http.MethodDelete, Version+"/jobs?"+q.Encode(), nil, &n)
	return n.Count, err
}

// Pause stops a queue from starting jobs; Resume starts it again.
func (c *Client) Pause(ctx context.Context, queue string) error {
	return c.do(ctx, http.MethodPost, Version+"/queues/"+url.PathEscape(queue)+"/pause", nil, &struct{}{})
}

// Resume undoes Pause.
func (c *Client) Resume(ctx context.Context, queue string) error {
	return c.do(ctx, http.MethodPost, Version+"/queues/"+url.PathEscape(queue)+"/resume", nil, &struct{}{})
}

// Reload asks the daemon to load its config file again and returns the
// file's name once it is applied. A refused file is a *RequestError (422)
// listing every problem; the daemon keeps running on its old config.
func (c *Client) Reload(ctx context.Context) (string, error) {
	var r Reloaded
	if err := c.do(ctx, http.MethodPost, Version+"/reload", nil, &r); err != nil {
		return "", err
	}
	return r.Config, nil
}

// Status returns the daemon's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.do(ctx, http.MethodGet, Version+"/status", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd *bytes.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(buf)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://kiln"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		var te *TimeoutError
		if errors.As(err, &te) {
			return te // it names the socket and the request is plain
		}
		return fmt.Errorf("connect to kilnd at %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e Error
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error == "" {
			e.Error = resp.Status
		}
		return &RequestError{Status: resp.StatusCode, Message: e.Error}
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("read answer to %s %s: %w", method, path, err)
	}
	return nil
}
