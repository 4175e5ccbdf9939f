package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Login is who a session acts for.
type Login struct {
	User   string
	Scopes []string
	// Credential names the tokens file line the login was made with, as
	// the backend knows it: the session lasts only while that line does,
	// unchanged and with at least these scopes.
	Credential string
}

// ErrLoginRefused is a login with an unknown token, or a wrong name or
// password.
var ErrLoginRefused = errors.New("unknown token, or wrong name or password")

// RetryLater is a login the backend did not check: its address or its name
// failed too often (answered 429) or every password check slot is taken
// (Busy, answered 503). Either way the caller is told when to come back,
// at once, rather than held.
type RetryLater struct {
	After time.Duration
	Busy  bool
}

func (e *RetryLater) Error() string {
	if e.Busy {
		return "too many logins are being checked at once"
	}
	return "too many failed logins"
}

// retryAfterSeconds is d in whole seconds for a Retry-After header,
// rounded up and at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(int((d+time.Second-1)/time.Second), 1)
}

func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, "login", pageData{Title: "Log in", Data: loginData{Next: safeNext(r.URL.Query().Get("next"))}})
}

type loginData struct {
	Next, Error string
}

func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-site login refused", http.StatusForbidden)
		return
	}
	name, secret := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("secret")
	next := safeNext(r.PostFormValue("next"))
	login, err := d.backend.Authenticate(name, secret, r.RemoteAddr)
	var later *RetryLater
	switch {
	case errors.As(err, &later):
		// Logged at debug only: a caller that does not wait would fill
		// the log at the rate it is answered, and the failures that made
		// it wait are logged already.
		d.log.Debug("dashboard: login not checked: "+later.Error(), d.backend.LoginAttr(name), "remote", r.RemoteAddr)
		secs := retryAfterSeconds(later.After)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		status, msg := http.StatusTooManyRequests, fmt.Sprintf("Too many failed logins: try again in %d s.", secs)
		if later.Busy {
			status, msg = http.StatusServiceUnavailable, "Too many logins are being checked at once: try again in a moment."
		}
		w.WriteHeader(status)
		d.render(w, r, "login", pageData{Title: "Log in", Data: loginData{Next: next, Error: msg}})
		return
	case err != nil:
		d.log.Warn("dashboard: login refused", d.backend.LoginAttr(name), "remote", r.RemoteAddr)
		w.WriteHeader(http.StatusUnauthorized)
		d.render(w, r, "login", pageData{Title: "Log in", Data: loginData{Next: next, Error: "Unknown token, or wrong name or password."}})
		return
	}
	id, _ := d.sessions.create(login)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second)})
	d.log.Info("dashboard: logged in", "user", login.User, "remote", r.RemoteAddr)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	d.sessions.remove(r)
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}
