package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

type ctxKey struct{}

func sessionOf(r *http.Request) *session {
	s, _ := r.Context().Value(ctxKey{}).(*session)
	return s
}

// authed lets a request through with a live session that has scope; a
// page without one goes to the login, an action gets 401 or 403. Every
// POST must also carry the session's CSRF token and come from this origin.
func (d *Dashboard) authed(scope string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := d.session(r)
		if sess == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "log in first", http.StatusUnauthorized)
			return
		}
		if !sess.allows(scope) {
			d.log.Warn("dashboard: refused, lacking the scope", "user", sess.login.User, "scope", scope, "path", r.URL.Path)
			http.Error(w, "your login lacks the "+scope+" scope", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost && (!sameOrigin(r) || !sess.validCSRF(r)) {
			d.log.Warn("dashboard: refused a form without a valid CSRF token", "user", sess.login.User, "path", r.URL.Path, "origin", r.Header.Get("Origin"))
			http.Error(w, "the form is stale or comes from another site; reload the page", http.StatusForbidden)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)))
	}
}

// safeNext keeps redirects after login and actions inside the dashboard.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/ui/"
	}
	return next
}

// back sends the browser to the page the form was on.
func back(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, safeNext(r.PostFormValue("back")), http.StatusSeeOther)
}

func (d *Dashboard) act(w http.ResponseWriter, r *http.Request, what string, err error, args ...any) {
	sess := sessionOf(r)
	if err != nil {
		d.log.Warn("dashboard: "+what+" failed", append([]any{"user", sess.login.User, "err", err}, args...)...)
		w.WriteHeader(http.StatusConflict)
		d.render(w, r, "error", pageData{Title: "Not done", Data: fmt.Sprintf("%s: %v", what, err)})
		return
	}
	d.log.Info("dashboard: "+what, append([]any{"user", sess.login.User}, args...)...)
	back(w, r)
}

func (d *Dashboard) pause(w http.ResponseWriter, r *http.Request) {
	q := r.PathValue("name")
	d.act(w, r, "queue paused", d.backend.Pause(r.Context(), q), "queue", q)
}

func (d *Dashboard) resume(w http.ResponseWriter, r *http.Request) {
	q := r.PathValue("name")
	d.act(w, r, "queue resumed", d.backend.Resume(r.Context(), q), "queue", q)
}

func (d *Dashboard) retry(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d.act(w, r, "job retried", d.backend.Retry(r.Context(), id), "job", id)
}

func (d *Dashboard) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d.act(w, r, "job cancelled", d.backend.Cancel(r.Context(), id), "job", id)
}

func (d *Dashboard) retryDead(w http.ResponseWriter, r *http.Request) {
	q := r.PostFormValue("queue")
	n, err := d.backend.RetryDead(r.Context(), q)
	d.act(w, r, "dead jobs retried", err, "queue", q, "jobs", n)
}

func (d *Dashboard) purgeDead(w http.ResponseWriter, r *http.Request) {
	q := r.PostFormValue("queue")
	n, err := d.backend.PurgeDead(r.Context(), q)
	d.act(w, r, "dead jobs purged", err, "queue", q, "jobs", n)
}
