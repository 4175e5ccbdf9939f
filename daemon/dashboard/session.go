package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"slices"
	"sync"
	"time"
)

const (
	cookieName = "kiln_session"
	scopeRead  = "read"
	scopeAdmin = "admin"
)

// session is one login.
type session struct {
	id      string // the cookie's value
	login   Login
	csrf    string // every form of this session carries it
	expires time.Time
}

func (s *session) allows(scope string) bool {
	return slices.Contains(s.login.Scopes, scopeAdmin) || slices.Contains(s.login.Scopes, scope)
}

// sessions are kept in memory: a restart logs everyone out, which is the
// safe way round.
type sessions struct {
	ttl time.Duration
	mu  sync.Mutex
	by  map[string]*session
}

func newSessions(ttl time.Duration) *sessions {
	return &sessions{ttl: ttl, by: map[string]*session{}}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics rather)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(l Login) (string, *session) {
	id := randomToken()
	sess := &session{id: id, login: l, csrf: randomToken(), expires: time.Now().Add(s.ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for k, v := range s.by {
		if now.After(v.expires) {
			delete(s.by, k)
		}
	}
	s.by[id] = sess
	return id, sess
}

func (s *sessions) fromRequest(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.by[c.Value]
	if sess == nil || time.Now().After(sess.expires) {
		return nil
	}
	return sess
}

func (s *sessions) remove(r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.drop(c.Value)
	}
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	delete(s.by, id)
	s.mu.Unlock()
}

// dropUnless ends every session whose login keep refuses, and returns
// their logins.
func (s *sessions) dropUnless(keep func(Login) bool) []Login {
	var dropped []Login
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sess := range s.by {
		if !keep(sess.login) {
			delete(s.by, id)
			dropped = append(dropped, sess.login)
		}
	}
	return dropped
}

// validCSRF checks a form's token against the session's, in constant time.
func (sess *session) validCSRF(r *http.Request) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) == 1
}

// sameOrigin refuses a POST that a browser says comes from another site.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser's cross-site request; the CSRF token decides
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return origin == scheme+"://"+r.Host
}
