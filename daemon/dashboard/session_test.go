package dashboard

import (
	"net/http"
	"testing"
	"time"
)

// dropUnless ends the sessions whose login the predicate refuses and no
// other; an ended session's cookie finds nothing.
func TestSessionsDropUnless(t *testing.T) {
	t.Parallel()
	s := newSessions(time.Hour)
	keepID, _ := s.create(Login{User: "stay", Scopes: []string{"read"}, Credential: "k1"})
	dropID, _ := s.create(Login{User: "gone", Scopes: []string{"admin"}, Credential: "k2"})
	dropped := s.dropUnless(func(l Login) bool { return l.Credential == "k1" })
	if len(dropped) != 1 || dropped[0].User != "gone" {
		t.Fatalf("dropped %v, want gone's session alone", dropped)
	}
	request := func(id string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "/ui/", nil)
		r.AddCookie(&http.Cookie{Name: cookieName, Value: id})
		return r
	}
	if sess := s.fromRequest(request(dropID)); sess != nil {
		t.Error("a dropped session is still found")
	}
	if sess := s.fromRequest(request(keepID)); sess == nil || sess.login.User != "stay" {
		t.Errorf("the kept session: %+v", sess)
	}
}
