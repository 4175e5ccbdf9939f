package command

import (
	"context"
	"encoding/json"
	"syscall"
	"testing"
	"time"

	"kiln/worker"
)

// BenchmarkCommandTrue is the cost of a command job itself: /bin/true run
// as b.N jobs by a pool of 2 workers over the on-disk store, from one
// batch submit to the last success. It reports jobs/s and the CPU time per
// job of this process (pool, store, runner) and of the programs it ran.
func BenchmarkCommandTrue(b *testing.B) {
	q := worker.QueueConfig{Concurrency: 2, MaxAttempts: 1, BackoffBase: worker.Duration(time.Millisecond), BackoffMax: worker.Duration(time.Millisecond)}
	p := runCommandPool(b, Config{Command: []string{"/bin/true"}, KillGrace: worker.Duration(DefaultKillGrace)}, q, nil)
	jobs := make([]*worker.JobRecord, b.N)
	for i := range jobs {
		jobs[i] = &worker.JobRecord{Queue: "default", Type: "cmd", Payload: json.RawMessage(`{}`), MaxAttempts: 1}
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	if _, err := p.store.Submit(context.Background(), jobs...); err != nil {
		b.Fatal(err)
	}
	for {
		changed := p.store.Changed()
		stats, err := p.store.Stats(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		c := stats["default"].Counts
		if n := c[worker.StateDead]; n > 0 {
			b.Fatalf("%d jobs dead", n)
		}
		if c[worker.StateSucceeded] == b.N {
			break
		}
		<-changed
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/job")
}

// cpuTime is the user and system time of this process and of the children
// it has waited for.
func cpuTime() time.Duration {
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(self.Utime) + tv(self.Stime) + tv(children.Utime) + tv(children.Stime)
}

// BenchmarkExecuteTrue is the runner alone: /bin/true run one after
// another, with its temporary directory, pipes and group check, and no
// queue.
func BenchmarkExecuteTrue(b *testing.B) {
	root := b.TempDir()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := Execute(context.Background(), Run{Path: "/bin/true", TempRoot: root, KillGrace: DefaultKillGrace, OutputLimit: OutputLimit}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/run")
}
