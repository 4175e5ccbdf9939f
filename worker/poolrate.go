package worker

import "time"

// How the pool keeps queues' rates: a job of a queue with a rate starts
// only on a token, taken from the queue's bucket on this host, or from
// the fleet's when the Queue keeps rates for all hosts together. Jobs the
// rate holds back stay queued in the store: the limit never fails one.

// fleetTokenLook is how soon a queue held back by the fleet's rate looks
// for tokens on its own, should a Ready signal be missed.
const fleetTokenLook = time.Second

// applyRate brings a queue's bucket in line with its settings after a
// start or a reload. A changed rate or burst starts a full bucket.
func (p *Pool) applyRate(name string, st *queueState, now time.Time) {
	if !st.cfg.Rate.Limited() {
		st.bucket, st.tokenAt = nil, time.Time{}
		p.setHeld(name, st, false)
		return
	}
	if p.fleetRates != nil {
		st.bucket = nil
		return
	}
	burst := BurstOf(st.cfg)
	if st.bucket == nil || st.bucket.rate != st.cfg.Rate || st.bucket.burst != burst {
		st.bucket = newTokenBucket(st.cfg.Rate, burst, now)
	}
}

// takeTokens takes the rate's tokens for up to n starts of queue name and
// returns how many may start.
func (p *Pool) takeTokens(name string, st *queueState, n int, now time.Time) int {
	if n <= 0 || !st.cfg.Rate.Limited() {
		return n
	}
	if p.fleetRates != nil {
		took := min(n, p.fleetRates.HeldRateTokens(name))
		st.tokenAt = time.Time{}
		if took < n {
			st.tokenAt = now.Add(fleetTokenLook)
		}
		if took == 0 {
			p.setHeld(name, st, true)
		}
		return took
	}
	took, next := st.bucket.take(n, now)
	st.tokenAt = next
	if took == 0 {
		p.setHeld(name, st, true)
	}
	return took
}

// returnTokens settles the tokens a take gave: used of them started jobs,
// the rest go back.
func (p *Pool) returnTokens(name string, st *queueState, took, used int) {
	if !st.cfg.Rate.Limited() {
		return
	}
	if p.fleetRates != nil {
		p.fleetRates.SpendRateTokens(name, used)
		return
	}
	st.bucket.give(took - used)
}

// setHeld records whether the rate holds queue name's due jobs back, for
// Stats.
func (p *Pool) setHeld(name string, st *queueState, held bool) {
	if st.held == held {
		return
	}
	st.held = held
	p.mu.Lock()
	if p.heldByRate == nil {
		p.heldByRate = map[string]bool{}
	}
	p.heldByRate[name] = held
	p.mu.Unlock()
}
