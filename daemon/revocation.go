package daemon

import (
	"context"
	"errors"
	"sync"

	"kiln/daemon/dashboard"
)

// errRevoked ends a request whose credential a reload took away.
var errRevoked = errors.New("the credential of the request was removed, changed or narrowed by a reload")

// openRequests holds a cancel for every request on the TCP listener that
// runs under a credential, so that a reload that takes the credential away
// ends it: above all an event stream, which would otherwise go on for as
// long as its client likes.
type openRequests struct {
	mu   sync.Mutex
	next uint64
	by   map[uint64]openRequest
}

type openRequest struct {
	name   string // the credential's, for the log
	key    string
	scopes []Scope
	cancel context.CancelCauseFunc
}

// track registers a request made under cred and returns its context, which
// a revocation cancels, and the function that unregisters it once it is
// answered. A credential that current no longer keeps is refused (ok is
// false): it was looked up in the set a reload has just replaced. The
// check is made under the same lock as revoke's sweep, so a request is
// either refused here or swept there.
func (o *openRequests) track(ctx context.Context, cred *credential, current *tokenSet) (_ context.Context, done func(), ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !current.keeps(cred.key, cred.scopes) {
		return ctx, func() {}, false
	}
	ctx, cancel := context.WithCancelCause(ctx)
	if o.by == nil {
		o.by = map[uint64]openRequest{}
	}
	o.next++
	id := o.next
	o.by[id] = openRequest{name: cred.name, key: cred.key, scopes: cred.scopes, cancel: cancel}
	return ctx, func() {
		o.mu.Lock()
		delete(o.by, id)
		o.mu.Unlock()
		cancel(nil)
	}, true
}

// revoke cancels every open request whose credential set does not keep,
// and returns how many it ended for each credential name.
func (o *openRequests) revoke(set *tokenSet) map[string]int {
	ended := map[string]int{}
	o.mu.Lock()
	defer o.mu.Unlock()
	for id, r := range o.by {
		if !set.keeps(r.key, r.scopes) {
			r.cancel(errRevoked)
			delete(o.by, id)
			ended[r.name]++
		}
	}
	return ended
}

// swapTokens puts a new tokens file in effect and ends what the old one
// allowed and the new one does not: the open requests and the dashboard
// sessions of every credential removed, whose token or password changed,
// or whose scopes were narrowed. The new set is in place before the sweep,
// so that nothing made under an old credential can begin after it.
func (h *httpListener) swapTokens(set *tokenSet) {
	old := h.tokens.Swap(set)
	requests := h.open.revoke(set)
	sessions := map[string]int{}
	for _, l := range h.ui.DropSessions(func(l dashboard.Login) bool { return set.keeps(l.Credential, scopesOf(l.Scopes)) }) {
		sessions[l.User]++
	}
	if old == nil {
		return
	}
	for _, c := range old.creds {
		if !set.keeps(c.key, c.scopes) {
			h.log.Info("reload: credential removed, changed or narrowed; its sessions and open requests are ended",
				"token_name", c.name, "sessions", sessions[c.name], "requests", requests[c.name])
		}
	}
}

// scopesOf turns the scopes a dashboard login carries back into Scopes.
func scopesOf(names []string) []Scope {
	scopes := make([]Scope, len(names))
	for i, s := range names {
		scopes[i] = Scope(s)
	}
	return scopes
}
