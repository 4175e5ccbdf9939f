package daemon

import (
	"context"
	"errors"
	"testing"
)

// A revocation ends the open requests of the credentials the new set does
// not keep, and only those; a request looked up in the old set but tracked
// after the new one is in place is refused.
func TestOpenRequestsRevoke(t *testing.T) {
	t.Parallel()
	old := writeTokensFile(t, "stay read stay-token-0123456789\ngone read gone-token-0123456789\nnarrow admin narrow-token-0123456789\n")
	next := writeTokensFile(t, "stay read stay-token-0123456789\nnarrow read narrow-token-0123456789\n")
	var o openRequests
	ctxs := map[string]context.Context{}
	for i := range old.creds {
		c := &old.creds[i]
		ctx, done, ok := o.track(context.Background(), c, old)
		if !ok {
			t.Fatalf("%s refused by its own set", c.name)
		}
		t.Cleanup(done)
		ctxs[c.name] = ctx
	}
	ended := o.revoke(next)
	if ended["gone"] != 1 || ended["narrow"] != 1 || ended["stay"] != 0 {
		t.Fatalf("revoked %v, want gone and narrow once each", ended)
	}
	for name, ctx := range ctxs {
		revoked := name != "stay"
		if (ctx.Err() != nil) != revoked {
			t.Errorf("%s: context error %v, want revoked %v", name, ctx.Err(), revoked)
		}
		if revoked && !errors.Is(context.Cause(ctx), errRevoked) {
			t.Errorf("%s: cause %v, want errRevoked", name, context.Cause(ctx))
		}
	}
	if _, _, ok := o.track(context.Background(), old.lookup("gone-token-0123456789"), next); ok {
		t.Error("a request of a revoked credential was tracked after the revocation")
	}
	if len(o.by) != 1 {
		t.Errorf("%d requests tracked, want the one that stays", len(o.by))
	}
}
