// Package webhook announces the end of jobs over HTTP. A job that succeeds
// or goes dead in a queue or pipeline with a notify_url makes a delivery: a
// job of its own (type "webhook", queue "_webhooks") that POSTs the event,
// signed with HMAC-SHA256, and is retried with backoff like any job until
// the receiver takes it or its attempts run out. A receiver that is down
// loses nothing; it may see a delivery twice, and tells by its event ID.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"kiln/worker"
)

// JobType is the type of delivery jobs.
const JobType = "webhook"

// Queue is where deliveries wait; it is configured like any queue.
const Queue = "_webhooks"

// Headers of a delivery.
const (
	HeaderSignature = "X-Kiln-Signature" // "sha256=" + hex HMAC-SHA256 of the body
	HeaderEventID   = "X-Kiln-Event-Id"  // the event's ID: the same on every attempt
	HeaderDelivery  = "X-Kiln-Delivery"  // the delivery job's ID
)

// Payload is a delivery job's payload: where to POST, and the exact body
// (signed at each attempt with the key current then).
type Payload struct {
	URL     string          `json:"url"`
	EventID uint64          `json:"event_id"`
	Body    json.RawMessage `json:"body"`
}

// Settings are what deliveries read from the daemon's current config.
type Settings struct {
	SecretFile string        // the HMAC key
	Timeout    time.Duration // per POST
}

// Kind is the webhook job kind.
type Kind struct {
	settings func() Settings
	client   *http.Client
}

var _ worker.Kind = (*Kind)(nil)

// NewKind returns the kind; settings is asked at each delivery.
func NewKind(settings func() Settings) *Kind {
	return &Kind{settings: settings, client: &http.Client{
		// A receiver's redirect is not followed: the signature is for the
		// URL the operator configured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Type implements worker.Kind.
func (k *Kind) Type() string { return JobType }

// Admit implements worker.Kind.
func (k *Kind) Admit(raw json.RawMessage) (string, error) {
	var p Payload
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", fmt.Errorf("webhook payload: %w", err)
	}
	if err := CheckURL(p.URL); err != nil {
		return "", &worker.FieldError{Field: "url", Msg: err.Error()}
	}
	if !json.Valid(p.Body) {
		return "", &worker.FieldError{Field: "body", Msg: "must be a JSON value"}
	}
	return Queue, nil
}

// CheckURL accepts absolute http and https URLs.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http or https URL", s)
	}
	return nil
}

// Handle implements worker.Kind: one POST. A 2xx answer is delivered;
// anything else is a failed attempt, retried.
func (k *Kind) Handle(ctx context.Context, job *worker.JobRecord) (json.RawMessage, error) {
	var p Payload
	if err := json.Unmarshal(job.Payload, &p); err != nil {
		return nil, worker.Permanent(fmt.Errorf("webhook payload: %w", err))
	}
	s := k.settings()
	key, err := ReadSecret(s.SecretFile)
	if err != nil {
		return nil, err // an operator may fix the file: retry
	}
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(p.Body))
	if err != nil {
		return nil, worker.Permanent(fmt.Errorf("webhook to %s: %w", p.URL, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "kiln-webhook")
	req.Header.Set(HeaderSignature, Sign(key, p.Body))
	req.Header.Set(HeaderEventID, strconv.FormatUint(p.EventID, 10))
	req.Header.Set(HeaderDelivery, job.ID)
	resp, err := k.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("webhook POST %s: %w", p.URL, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("webhook POST %s: answered %s: %q", p.URL, resp.Status, snippet)
	}
	return json.Marshal(struct {
		Status int `json:"status"`
	}{resp.StatusCode})
}
