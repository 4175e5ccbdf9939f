package worker

// FleetRates is what a queue shared by several hosts offers so that a
// queue's rate holds for the whole fleet rather than per host: each host
// starts a job of a limited queue only on a token it took from one bucket
// that all share. A Pool uses it for queues with a rate when its Queue
// offers it, and keeps the rate itself otherwise.
type FleetRates interface {
	// HeldRateTokens is how many tokens of queue this host holds now.
	// When it holds none, the queue's Ready channel signals once one has
	// come.
	HeldRateTokens(queue string) int
	// SpendRateTokens uses n held tokens of queue, one per job started.
	SpendRateTokens(queue string, n int)
}
