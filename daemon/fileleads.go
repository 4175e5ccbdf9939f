package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"kiln/internal/durable"
	"kiln/worker"
)

// fileLeads is worker.Leader for a backend that is not shared: this
// process always leads, and each lead's state is kept in one file under
// state_dir, written durably at each save, so that a restart reads on
// from where the last run was.
type fileLeads struct {
	path string

	mu     sync.Mutex
	values map[string]uint64
}

// leadsFile is the file under state_dir.
const leadsFile = "leads.json"

// openFileLeads reads the saved states; a missing file is no state yet.
func openFileLeads(stateDir string) (*fileLeads, error) {
	l := &fileLeads{path: filepath.Join(stateDir, leadsFile), values: map[string]uint64{}}
	b, err := os.ReadFile(l.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return l, nil
	case err != nil:
		return nil, fmt.Errorf("read lead states %s: %w", l.path, err)
	}
	if err := json.Unmarshal(b, &l.values); err != nil {
		return nil, fmt.Errorf("read lead states %s: not the JSON kilnd writes (%v): move it away to start the schedules afresh", l.path, err)
	}
	return l, nil
}

// Lead implements worker.Leader: run at once, until ctx ends.
func (l *fileLeads) Lead(ctx context.Context, name string, run func(ctx context.Context, state worker.LeadState)) {
	run(ctx, &fileLeadState{leads: l, name: name})
}

type fileLeadState struct {
	leads *fileLeads
	name  string
}

// Saved implements worker.LeadState.
func (s *fileLeadState) Saved() (uint64, bool) {
	s.leads.mu.Lock()
	defer s.leads.mu.Unlock()
	v, ok := s.leads.values[s.name]
	return v, ok
}

// Save implements worker.LeadState.
func (s *fileLeadState) Save(_ context.Context, v uint64) error {
	l := s.leads
	l.mu.Lock()
	defer l.mu.Unlock()
	old, had := l.values[s.name]
	l.values[s.name] = v
	b, err := json.Marshal(l.values)
	if err == nil {
		err = durable.ReplaceFile(l.path, b, 0o640)
	}
	if err != nil {
		if had {
			l.values[s.name] = old
		} else {
			delete(l.values, s.name)
		}
		return fmt.Errorf("save lead %s in %s: %w", s.name, l.path, err)
	}
	return nil
}
