package rabbitmq

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"

	"kiln/worker"
)

// The AMQP message of a job, which any client may publish
// (docs/rabbitmq.md, "Submit a job over AMQP"):
//
//   - exchange <prefix>.jobs, routing key = the kiln queue's name;
//   - delivery_mode 2 (persistent), content_type application/json;
//   - message_id = the job ID, if the producer has one (kiln gives a
//     message without one an ID of its own);
//   - body: a JSON object with at least "type" and "payload", and
//     optionally "max_attempts", "run_at" and "timeout", as in the socket
//     API's submit.
//
// Headers kiln sets on the copies it publishes itself:
const (
	// hdrAttempts counts the attempts the job had used before this copy
	// was published; the broker's x-delivery-count adds the ones spent on
	// this copy.
	hdrAttempts = "kiln-attempts"
	// hdrGen is the job's generation: a retry of a dead or cancelled job
	// starts a new one, so that a cancel of the old one cannot stop it.
	hdrGen = "kiln-gen"
	// hdrCopy tells copies of one job generation apart: a copy older than
	// the one the records name is stale (its outcome is already stored).
	hdrCopy = "kiln-copy"
	// hdrDelay selects the wait queue of the delay ladder (milliseconds).
	hdrDelay = "kiln-delay"
	// hdrDeliveryCount is where quorum queues count the deliveries of a
	// message that came back without an ack.
	hdrDeliveryCount = "x-delivery-count"
)

// jobMessage is a job as published to the work queue or the ladder.
func jobMessage(j *worker.JobRecord, attemptsBefore, gen int, copy uint64) amqp.Publishing {
	body := appendJob(make([]byte, 0, 512+len(j.Payload)), j)
	var priority uint8
	if j.Priority > 0 {
		// A quorum queue of RabbitMQ 4.0 has two levels, and takes any
		// priority above 4 for high: a job of a priority above 0 goes
		// before the others; the consumer orders what it holds by the
		// job's own priority.
		priority = highPriority
	}
	return amqp.Publishing{
		Priority:     priority,
		DeliveryMode: amqp.Persistent,
		ContentType:  "application/json",
		MessageId:    j.ID,
		Timestamp:    j.CreatedAt,
		Type:         j.Type,
		Headers:      amqp.Table{hdrAttempts: int64(attemptsBefore), hdrGen: int64(gen), hdrCopy: int64(copy)},
		Body:         body,
	}
}

// highPriority is the AMQP priority of a job with a priority above 0.
const highPriority = 5

// delivered is a job read from a delivery of its work queue.
type delivered struct {
	job *worker.JobRecord
	// attemptsBefore counts the attempts used before this delivery.
	attemptsBefore int
	// interrupted counts deliveries of this copy that ended without an
	// answer: a worker that died, or lost its connection.
	interrupted int
	gen         int
	copy        uint64
	foreign     bool // published by another client than kiln, without an ID
	d           amqp.Delivery
	l           *link // the link it came on, whose channel acks it
}

// decodeDelivery reads a job from a work queue delivery. A body that is
// not a job is an error naming what is wrong; the caller dead-letters it.
func decodeDelivery(d amqp.Delivery, queue string) (*delivered, error) {
	var j worker.JobRecord
	if ct := d.ContentType; ct != "" && !strings.HasPrefix(ct, "application/json") {
		return nil, fmt.Errorf("content_type %q: jobs are application/json", ct)
	}
	if err := decodeJobBody(d.Body, &j); err != nil {
		return nil, fmt.Errorf("body is not a job: %v", err)
	}
	if j.Type == "" {
		return nil, fmt.Errorf(`body has no "type"`)
	}
	if len(j.Payload) == 0 {
		j.Payload = json.RawMessage(`{}`)
	}
	if len(j.Payload) > worker.MaxPayload {
		return nil, fmt.Errorf("payload of %d bytes is over %d: jobs carry a path to their input", len(j.Payload), worker.MaxPayload)
	}
	// The payload is kept and shown as it came; bytes that are not UTF-8
	// would make every listing that holds the job unreadable to a strict
	// JSON client, as the daemon's own submits refuse them.
	if !utf8.Valid(j.Payload) {
		return nil, fmt.Errorf("payload is not valid UTF-8: JSON text is UTF-8")
	}
	out := &delivered{job: &j, d: d}
	out.attemptsBefore = int(headerInt(d.Headers, hdrAttempts))
	out.interrupted = int(headerInt(d.Headers, hdrDeliveryCount))
	out.gen = int(headerInt(d.Headers, hdrGen))
	out.copy = uint64(headerInt(d.Headers, hdrCopy))
	if j.ID == "" {
		j.ID = d.MessageId
	}
	if _, kiln := d.Headers[hdrGen]; !kiln {
		out.foreign = true
	}
	j.Queue = queue
	if j.MaxAttempts < 1 {
		j.MaxAttempts = 0 // filled from the queue's config by the caller
	}
	if j.CreatedAt.IsZero() {
		j.CreatedAt = d.Timestamp
		if j.CreatedAt.IsZero() {
			j.CreatedAt = time.Now()
		}
	}
	return out, nil
}

func headerInt(h amqp.Table, key string) int64 {
	switch v := h[key].(type) {
	case int64:
		return v
	case int32:
		return int64(v)
	case int16:
		return int64(v)
	case int8:
		return int64(v)
	case int:
		return int64(v)
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case float64:
		return int64(v)
	case string:
		var n int64
		fmt.Sscan(v, &n)
		return n
	}
	return 0
}
