package daemon

import (
	"errors"
	"net/http"
	"time"

	"kiln/api"
	"kiln/internal/schedule"
	"kiln/kilntype"
	"kiln/worker"
)

// schedules is GET /v1/schedules. The last tick and its job are worked
// out from the spec and the job ID the tick derives, so that every host of
// a fleet answers alike, whichever one submits the ticks.
func (s *controlServer) schedules(w http.ResponseWriter, r *http.Request) {
	cfg := s.d.config()
	states := s.d.schedules.states()
	now := time.Now()
	out := api.Schedules{Schedules: []api.Schedule{}}
	for _, name := range sortedKeys(cfg.Schedules) {
		sc, spec := cfg.Schedules[name], cfg.scheduleSpecs[name]
		st := states[name]
		a := api.Schedule{Name: name, Spec: spec.String(), CatchUp: string(sc.catchUp()), Type: sc.Type, Queue: sc.Queue,
			NextTick: spec.Next(now), LastTick: schedule.Prev(spec, now), Leading: st.leading, LastError: st.lastErr}
		if !a.LastTick.IsZero() {
			j, err := s.d.queue.Get(r.Context(), schedule.TickID(name, a.LastTick))
			switch {
			case err == nil:
				a.LastJob = &api.ScheduleJob{ID: j.ID, State: kilntype.State(j.State)}
			case !errors.Is(err, worker.ErrNotFound):
				s.writeStoreError(w, err)
				return
			}
		}
		out.Schedules = append(out.Schedules, a)
	}
	writeJSON(w, http.StatusOK, out)
}
