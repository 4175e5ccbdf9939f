package queuetest

import (
	"strings"
	"testing"
	"time"

	"kiln/worker"
)

func TestCheckRate(t *testing.T) {
	t.Parallel()
	rate := worker.Rate{Count: 20, Per: time.Second}
	t0 := time.Unix(1000, 0)
	spaced := func(n int, every time.Duration) []time.Time {
		var ts []time.Time
		for i := range n {
			ts = append(ts, t0.Add(time.Duration(i)*every))
		}
		return ts
	}
	burstThenRate := append(spaced(5, 0), spaced(40, 50*time.Millisecond)[1:]...)
	if err := CheckRate(burstThenRate, rate, 5, 0.1); err != nil {
		t.Errorf("a burst of 5, then 20/s: %v", err)
	}
	for name, c := range map[string]struct {
		ts   []time.Time
		want string
	}{
		"all at once":    {spaced(45, 0), "7 starts in 0.000s"},
		"twice the rate": {spaced(45, 25*time.Millisecond), "at most"},
		"half the rate":  {spaced(45, 100*time.Millisecond), "the rate asks 2.000s"},
	} {
		err := CheckRate(c.ts, rate, 5, 0.1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want an error with %q", name, err, c.want)
		}
	}
}
