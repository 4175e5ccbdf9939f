// Package dashboard is kilnd's web dashboard on the TCP listener: queues
// with pause and resume, jobs by state, a job's attempts and its outputs as
// pictures, dead jobs with retry and purge, kept up to date from the event
// stream. Everything it serves is built into the binary and it loads
// nothing from elsewhere. Pages are rendered with html/template, so every
// text a job carries is escaped; forms carry a per-session CSRF token; a
// job's files are served only from inside its output root. The queues
// page draws each queue's charts as inline SVG (charts.go).
package dashboard

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"kiln/api"
	"kiln/daemon/chartstore"
	"kiln/worker"
)

//go:embed assets
var assets embed.FS

// Backend is what the dashboard reads and changes; the daemon implements
// it over its store, pool and config.
type Backend interface {
	Status(ctx context.Context) (*api.Status, error)
	List(ctx context.Context, queue string, state worker.State, limit int) ([]*worker.JobRecord, error)
	Job(ctx context.Context, id string) (*worker.JobRecord, error)
	// Outputs lists a job's files and the directory they must be inside.
	Outputs(j *worker.JobRecord) (root string, files []worker.OutputFile)
	// Describe is a job in its kind's words: the dashboard knows no kind's
	// payload.
	Describe(j *worker.JobRecord) worker.JobDescription
	// Progress is how far a job running here has got, as its handler
	// last said.
	Progress(id string) (worker.Progress, bool)
	Pause(ctx context.Context, queue string) error
	Resume(ctx context.Context, queue string) error
	Retry(ctx context.Context, id string) error
	RetryDead(ctx context.Context, queue string) (int, error)
	PurgeDead(ctx context.Context, queue string) (int, error)
	Cancel(ctx context.Context, id string) error
	// LastEventID is the newest event's ID: a page follows the events
	// after the one that was newest when it was rendered, so that nothing
	// that happens before its stream connects is missed.
	LastEventID(ctx context.Context) uint64
	// Authenticate checks a login from the address remote: a token alone,
	// or a name and its password. A wrong one is ErrLoginRefused; one it
	// does not check now is a *RetryLater.
	Authenticate(name, secret, remote string) (Login, error)
	// Current reports whether the credential a login was made with is
	// still in effect with at least the login's scopes; a session whose
	// credential is not ends.
	Current(l Login) bool
	// LoginAttr is how a name typed in the login form is written to the
	// log: a token or a password typed in the wrong field must not be.
	LoginAttr(name string) slog.Attr
	// Charts are the queues' charts of a span: the fleet's, on a backend
	// shared by several hosts.
	Charts(ctx context.Context, span chartstore.Span) (*chartstore.Snapshot, error)
	// QueueRate is a queue's rate in the config in effect; the zero Rate
	// when it has none. The queues page names it beside a queue it holds
	// back.
	QueueRate(queue string) worker.Rate
}

// Dashboard serves the pages under /ui/.
type Dashboard struct {
	backend  Backend
	log      *slog.Logger
	sessions *sessions
	pages    map[string]*template.Template
	static   http.Handler
}

// sessionTTL is how long a login lasts.
const sessionTTL = 12 * time.Hour

// New returns the dashboard.
func New(b Backend, log *slog.Logger) *Dashboard {
	static, _ := fs.Sub(assets, "assets/static") // the directory is embedded: cannot fail
	d := &Dashboard{backend: b, log: log, sessions: newSessions(sessionTTL), static: http.FileServerFS(static)}
	d.pages = parsePages()
	return d
}

// Handler serves the dashboard; mount it at /ui/.
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", d.static))
	mux.HandleFunc("GET /ui/login", d.loginPage)
	mux.HandleFunc("POST /ui/login", d.login)
	mux.HandleFunc("POST /ui/logout", d.authed(scopeRead, d.logout))
	mux.HandleFunc("GET /ui/{$}", d.authed(scopeRead, d.queuesPage))
	mux.HandleFunc("GET /ui/jobs", d.authed(scopeRead, d.jobsPage))
	mux.HandleFunc("GET /ui/jobs/{id}", d.authed(scopeRead, d.jobPage))
	mux.HandleFunc("GET /ui/jobs/{id}/outputs/{n}", d.authed(scopeRead, d.output))
	mux.HandleFunc("GET /ui/dead", d.authed(scopeRead, d.deadPage))
	mux.HandleFunc("POST /ui/queues/{name}/pause", d.authed(scopeAdmin, d.pause))
	mux.HandleFunc("POST /ui/queues/{name}/resume", d.authed(scopeAdmin, d.resume))
	mux.HandleFunc("POST /ui/jobs/{id}/retry", d.authed(scopeAdmin, d.retry))
	mux.HandleFunc("POST /ui/jobs/{id}/cancel", d.authed(scopeAdmin, d.cancel))
	mux.HandleFunc("POST /ui/dead/retry", d.authed(scopeAdmin, d.retryDead))
	mux.HandleFunc("POST /ui/dead/purge", d.authed(scopeAdmin, d.purgeDead))
	return securityHeaders(mux)
}

// securityHeaders forbids the pages to load or run anything from
// elsewhere, inline scripts included, and to be framed.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "same-origin")
		w.Header().Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

// Session returns the login a request's cookie belongs to, for the API
// routes a browser page reads (the event stream).
func (d *Dashboard) Session(r *http.Request) (Login, bool) {
	s := d.session(r)
	if s == nil {
		return Login{}, false
	}
	return s.login, true
}

// session is the live session of a request's cookie, if its credential
// is still current.
func (d *Dashboard) session(r *http.Request) *session {
	s := d.sessions.fromRequest(r)
	if s != nil && !d.backend.Current(s.login) {
		d.sessions.drop(s.id)
		return nil
	}
	return s
}

// DropSessions ends every session whose login keep refuses, and returns
// their logins: a reload calls it with the credentials it keeps, so that
// a login made with a credential since removed, changed or narrowed reads
// nothing more.
func (d *Dashboard) DropSessions(keep func(Login) bool) []Login {
	return d.sessions.dropUnless(keep)
}
