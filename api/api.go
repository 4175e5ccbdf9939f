// Package api is kiln's control API, version 1: HTTP+JSON on the daemon's
// unix socket. The daemon serves it; kilnctl and applications use Client.
package api

import (
	"encoding/json"
	"time"

	"kiln/kilntype"
)

// Version is the path prefix of this API.
const Version = "/v1"

// SubmitRequest is the body of POST /v1/jobs and one element of a batch.
// Unknown fields are refused.
//
// A job names its type and carries a small JSON payload (at most 64 KiB: a
// reference to its data, never the data), which the type's kind checks at
// submit. An image job's payload is {"pipeline": NAME, "input": PATH}.
type SubmitRequest struct {
	Type        string          `json:"type"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	Queue       string          `json:"queue,omitempty"`    // default: the one the kind picks (an image job: its pipeline's), else "default"
	Priority    int             `json:"priority,omitempty"` // 0..1000, higher runs first
	RunAt       string          `json:"run_at,omitempty"`   // RFC 3339; not before
	RunIn       string          `json:"run_in,omitempty"`   // or a delay such as "5m"
	UniqueKey   string          `json:"unique_key,omitempty"`
	MaxAttempts int             `json:"max_attempts,omitempty"` // default: the queue's
	Timeout     string          `json:"timeout,omitempty"`      // per attempt, default: the queue's
}

// BatchRequest is the body of POST /v1/jobs/batch: all jobs are stored in
// one durable write, or none is.
type BatchRequest struct {
	Jobs []SubmitRequest `json:"jobs"`
}

// Job is a job as the API shows it. Bookkeeping that only the queue
// needs, such as lease expiry, is not part of it.
type Job struct {
	ID          string                  `json:"id"`
	Queue       string                  `json:"queue"`
	Type        string                  `json:"type"`
	Payload     json.RawMessage         `json:"payload,omitempty"`
	Priority    int                     `json:"priority"`
	RunAt       time.Time               `json:"run_at"`
	Attempts    int                     `json:"attempts"`
	MaxAttempts int                     `json:"max_attempts"`
	Timeout     kilntype.Duration       `json:"timeout,omitempty"` // per attempt; 0 = the queue's
	UniqueKey   string                  `json:"unique_key,omitempty"`
	State       kilntype.State          `json:"state"`
	LastError   string                  `json:"last_error,omitempty"`
	Errors      []kilntype.AttemptError `json:"errors,omitempty"`
	CreatedAt   time.Time               `json:"created_at"`
	UpdatedAt   time.Time               `json:"updated_at"`
	FinishedAt  time.Time               `json:"finished_at,omitzero"`
	Result      json.RawMessage         `json:"result,omitempty"`
	// Parent is the job whose success made this one, a follow-up step of
	// a chain; Children are the follow-ups this job's success made.
	Parent   string   `json:"parent,omitempty"`
	Children []string `json:"children,omitempty"`
	// Progress is how far the job has got, as its handler last said while
	// it runs; absent otherwise. It is not stored: only the daemon running
	// the job knows it.
	Progress *kilntype.Progress `json:"progress,omitempty"`
	// Description is the job as its kind describes it, for clients that
	// know no kind's payload or result; absent when the kind says nothing.
	Description *JobDescription `json:"description,omitempty"`
}

// JobDescription is a job in its kind's words.
type JobDescription struct {
	Summary string `json:"summary,omitempty"` // one line, such as "pipeline web: /srv/in/a.jpg"
	Input   string `json:"input,omitempty"`   // what the job reads, such as a path
	// Outputs are the files a succeeded job wrote.
	Outputs []OutputFile `json:"outputs,omitempty"`
}

// OutputFile is one file a job wrote.
type OutputFile struct {
	Name   string `json:"name"` // what the file is, such as a variant's name
	Path   string `json:"path"`
	Format string `json:"format,omitempty"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	Bytes  int    `json:"bytes,omitempty"`
}

// Submitted is the answer of POST /v1/jobs and one element of a batch's
// answer: the job as stored (without its payload, which the submitter
// has), and whether its unique_key matched an unfinished job, in which case
// that job is the one shown and nothing was added.
type Submitted struct {
	Job
	Duplicate bool `json:"duplicate,omitempty"`
}

// SubmittedList is the answer of POST /v1/jobs/batch.
type SubmittedList struct {
	Jobs []*Submitted `json:"jobs"`
}

// Cancelled is the answer of POST /v1/jobs/{id}/cancel. Stopping says the
// job was running: its handler is being stopped and it ends cancelled.
type Cancelled struct {
	Job
	Stopping bool `json:"stopping,omitempty"`
}

// JobList is the answer of GET /v1/jobs: one page of jobs, at most the
// limit asked for and at most the daemon's max_list_page. Next, when set,
// is the cursor of the next page: ask again with after=Next. It is absent
// after the last page.
type JobList struct {
	Jobs []*Job `json:"jobs"`
	Next string `json:"next,omitempty"`
}

// Count is the answer of bulk operations.
type Count struct {
	Count int `json:"count"`
}

// Status is the body of GET /v1/status.
type Status struct {
	Version   string                  `json:"version"`
	PID       int                     `json:"pid"`
	StartedAt time.Time               `json:"started_at"`
	Config    string                  `json:"config"`
	Queues    map[string]*QueueStatus `json:"queues"`
	Running   int64                   `json:"running"`
	Succeeded int64                   `json:"succeeded_since_start"`
	Failed    int64                   `json:"failed_since_start"`
	Purged    int64                   `json:"purged_by_retention"`
	// Broker says whether the broker of the rabbitmq backend can be used,
	// and why not; empty for the local backend.
	Broker string `json:"broker,omitempty"`
	// Names are what the job kinds' tables of the config in effect name,
	// by what they are, such as {"pipelines": ["thumbs", "web"]}: what a
	// submit may name.
	Names map[string][]string `json:"names,omitempty"`
}

// QueueStatus is one queue in Status.
type QueueStatus struct {
	Counts           map[kilntype.State]int `json:"counts"`
	Paused           bool                   `json:"paused"`
	Concurrency      int                    `json:"concurrency"`
	SucceededPerSec  float64                `json:"succeeded_per_s"`
	FailedPerSec     float64                `json:"failed_per_s"`
	OldestQueuedAgeS float64                `json:"oldest_queued_age_s"`
	// HeldByRate says the queue has due jobs and free slots on this host
	// but waits for its rate.
	HeldByRate bool `json:"held_by_rate,omitempty"`
	// BrokerReady is how many messages the queue's broker queue holds
	// ready for a consumer (rabbitmq backend only).
	BrokerReady *int `json:"broker_ready,omitempty"`
}

// Reloaded is the answer of POST /v1/reload when the config was applied. A
// refused config is answered 422 with an Error listing every problem.
type Reloaded struct {
	Config string `json:"config"`
}

// Error is the body of every 4xx and 5xx answer.
type Error struct {
	Error string `json:"error"`
}
