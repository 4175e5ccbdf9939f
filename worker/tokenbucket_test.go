package worker

import (
	"testing"
	"time"
)

func TestTokenBucket_TakesBurstThenRate(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	b := newTokenBucket(Rate{Count: 10, Per: time.Second}, 3, t0)
	if took, _ := b.take(5, t0); took != 3 {
		t.Fatalf("a full bucket of 3 gave %d of 5", took)
	}
	took, next := b.take(1, t0)
	if took != 0 || next != t0.Add(100*time.Millisecond) {
		t.Fatalf("an empty bucket at 10/s gave %d, next token at %v; want 0 and %v", took, next.Sub(t0), 100*time.Millisecond)
	}
	if took, _ := b.take(5, t0.Add(250*time.Millisecond)); took != 2 {
		t.Fatalf("250ms at 10/s gave %d tokens, want 2", took)
	}
	b.give(1)
	if took, _ := b.take(5, t0.Add(250*time.Millisecond)); took != 1 {
		t.Fatalf("after giving one back: %d, want 1", took)
	}
	// An idle spell fills the bucket no higher than its burst.
	if took, _ := b.take(100, t0.Add(time.Hour)); took != 3 {
		t.Fatalf("after an hour idle: %d, want the burst of 3", took)
	}
}

func TestRate_UnmarshalText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Rate{"50/s": {50, time.Second}, "300/m": {300, time.Minute}, " 1000/h ": {1000, time.Hour}, "": {}} {
		var r Rate
		if err := r.UnmarshalText([]byte(in)); err != nil || r != want {
			t.Errorf("%q: %+v, %v; want %+v", in, r, err, want)
		}
	}
	for _, in := range []string{"50", "50/d", "0/s", "-1/s", "x/s", "1.5/s", "50/s/s"} {
		var r Rate
		err := r.UnmarshalText([]byte(in))
		if err == nil {
			t.Errorf("%q: accepted as %+v", in, r)
		} else if want := `invalid rate "` + in + `" (use a whole number of jobs per s, m or h, e.g. "50/s", "1000/h")`; err.Error() != want {
			t.Errorf("%q: %v; want %s", in, err, want)
		}
	}
	if got := (Rate{Count: 1000, Per: time.Hour}).String(); got != "1000/h" {
		t.Errorf("String = %q", got)
	}
}
