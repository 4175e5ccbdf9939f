package daemon

import (
	"context"
	"fmt"

	"kiln/worker"
)

// pagedLister is a queue backend that lists jobs a page at a time: each
// page comes with the cursor of the next, "" after the last, which the
// client hands back as after= to go on.
type pagedLister interface {
	ListAfter(ctx context.Context, queue string, state worker.State, after string, limit int) ([]*worker.JobRecord, string, error)
}

// listPage is one page of GET /v1/jobs. A backend without pages lists the
// first only.
func (s *controlServer) listPage(ctx context.Context, queue string, state worker.State, after string, limit int) ([]*worker.JobRecord, string, error) {
	if p, ok := any(s.d.queue).(pagedLister); ok {
		return p.ListAfter(ctx, queue, state, after, limit)
	}
	if after != "" {
		return nil, "", &worker.FieldError{Field: "after", Msg: fmt.Sprintf("the %s backend lists one page only", s.d.config().Broker.Backend)}
	}
	jobs, err := s.d.queue.List(ctx, queue, state, limit)
	return jobs, "", err
}
