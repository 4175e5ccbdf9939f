package worker

import (
	"context"
	"encoding/json"
	"fmt"
)

// followUps are the jobs that follow j's success, from its kind. A problem
// with them fails j's attempt for good: no retry of j can cure a follow-up
// its kind names wrongly, and j must not finish without its chain.
func (p *Pool) followUps(j *JobRecord, result json.RawMessage) ([]*JobRecord, error) {
	k, ok := p.kinds[j.Type].(FollowUpper)
	if !ok {
		return nil, nil
	}
	steps := k.FollowUps(j, result)
	if len(steps) == 0 {
		return nil, nil
	}
	if p.chains == nil {
		return nil, Permanent(fmt.Errorf("job %s names %d follow-ups, and this queue backend cannot store follow-ups", j.ID, len(steps)))
	}
	jobs, err := FollowUpJobs(j, result, steps, p.kinds, p.queues())
	if err != nil {
		return nil, Permanent(err)
	}
	return jobs, nil
}

// complete stores a job's success and, with it, its follow-ups.
func (p *Pool) complete(id string, result json.RawMessage, followUps []*JobRecord) error {
	if len(followUps) == 0 {
		return p.queue.Complete(context.Background(), id, result)
	}
	return p.chains.CompleteWithFollowUps(context.Background(), id, result, followUps)
}
