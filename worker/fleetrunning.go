package worker

// FleetRunning is what a queue shared by several hosts offers so that a
// queue's max_running holds for the fleet rather than per host: each host
// runs at most its share of it.
type FleetRunning interface {
	// RunningShare is how many jobs of queue may run at once on this host
	// when the whole fleet may run limit. It answers from what it knows at
	// once, and signals the queue's Ready channel when the share changes.
	RunningShare(queue string, limit int) int
}
