package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"kiln/api"
	"kiln/daemon/dashboard"
)

// HTTPConfig is the [http] table: the API (and /metrics) on TCP, for
// machines other than this one. Off unless listen is set.
type HTTPConfig struct {
	Listen  string `toml:"listen"`   // host:port; "" = no TCP listener
	TLSCert string `toml:"tls_cert"` // PEM certificate chain; with tls_key, serve HTTPS
	TLSKey  string `toml:"tls_key"`
	Tokens  string `toml:"tokens"` // the tokens file
}

func (c *HTTPConfig) validate(report func(key, msg string)) {
	if c.Listen == "" {
		return
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		report("http.listen", fmt.Sprintf("%q is not host:port: %v", c.Listen, err))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		report("http.tls_cert", "tls_cert and tls_key go together: set both or neither")
	}
	if c.Tokens == "" {
		report("http.tokens", "must name the tokens file when listen is set: the TCP listener serves no one without a token")
	}
}

// httpListener serves the control API on TCP behind bearer tokens.
type httpListener struct {
	d      *daemon
	log    *slog.Logger
	srv    *http.Server
	tokens atomic.Pointer[tokenSet]
	ui     *dashboard.Dashboard
	open   openRequests // the requests a reload may revoke
	logins loginLimiter // the dashboard's login attempts
}

// listenHTTP opens the TCP listener if the config asks for one. The tokens
// file is read now, so that a bad one stops the start instead of locking
// everyone out later.
func (d *daemon) listenHTTP() error {
	cfg := d.config().HTTP
	if cfg.Listen == "" {
		return nil
	}
	// The start checks have loaded the tokens file and the TLS pair and
	// looked at the address: what fails here is the listen, the config's
	// to fix unless the port is merely taken.
	h := &httpListener{d: d, log: d.log}
	h.tokens.Store(d.startLoads.tokens)
	tlsConfig := d.startLoads.tls
	d.startLoads = startLoads{} // a reload's tokens replace these
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		err = fmt.Errorf("http: listen on %s: %w", cfg.Listen, err)
		if listenFaultIsConfig(err) {
			return &exitError{code: ExitConfig, err: err}
		}
		return err
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	h.ui = dashboard.New(dashboardBackend{d}, d.log)
	guard := newListenerGuard(d, "http", true)
	h.srv = guard.server(h.handler(d.server))
	h.srv.RegisterOnShutdown(d.server.stopStreams)
	h.srv.RegisterOnShutdown(guard.shutdown)
	limited := guard.listen(ln)
	d.http = h
	go func() {
		if err := h.srv.Serve(limited); err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case d.server.failed <- fmt.Errorf("http listener %s: %w", cfg.Listen, err):
			default:
			}
		}
	}()
	d.log.Info("http listener open", "addr", ln.Addr().String(), "tls", tlsConfig != nil, "tokens", cfg.Tokens)
	return nil
}

func (h *httpListener) shutdown(ctx context.Context) error {
	if h == nil {
		return nil
	}
	return h.srv.Shutdown(ctx)
}

// handler serves the dashboard under /ui/ and puts every route of the
// control server behind a bearer token with the route's scope, but for a
// GET or HEAD of an open route (the health checks). A dashboard login may
// read (GET) the API too, which is how its pages follow the event stream;
// it may change nothing through it, so a forged cross-site request has no
// effect there. Refusals are logged with the token's name, never its value.
func (h *httpListener) handler(s *controlServer) http.Handler {
	ui := h.ui.Handler()
	mux := s.mux
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" || r.URL.Path == "/ui" {
			http.Redirect(w, r, "/ui/", http.StatusSeeOther)
			return
		}
		if r.URL.Path == "/favicon.ico" {
			http.NotFound(w, r) // browsers ask; there is none
			return
		}
		if strings.HasPrefix(r.URL.Path, "/ui/") {
			ui.ServeHTTP(w, r)
			return
		}
		_, pattern := mux.Handler(r)
		if s.open[pattern] && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			mux.ServeHTTP(w, r)
			return
		}
		need := scopeOf(pattern)
		token := bearerToken(r.Header.Get("Authorization"))
		cred := h.tokens.Load().lookup(token)
		if cred == nil && token == "" && r.Method == http.MethodGet {
			if login, ok := h.ui.Session(r); ok {
				cred = &credential{name: login.User, key: login.Credential, scopes: scopesOf(login.Scopes)}
			}
		}
		if cred == nil {
			reason := "no bearer token"
			if token != "" {
				reason = "unknown token"
			}
			// Answered at once, the body unread, and the connection closed:
			// a client without a token gets nothing more of the daemon.
			refuseRequest(r, "http request refused: "+reason, "")
			endAfterAnswer(w, r)
			w.Header().Set("WWW-Authenticate", `Bearer realm="kiln"`)
			writeError(w, http.StatusUnauthorized, "a bearer token is required: Authorization: Bearer TOKEN")
			return
		}
		if !cred.allows(need) {
			refuseRequest(r, "http request refused: token lacks the scope", cred.name, "scope", need)
			endAfterAnswer(w, r)
			writeError(w, http.StatusForbidden, fmt.Sprintf("token %q lacks the %s scope", cred.name, need))
			return
		}
		// The request ends if a reload takes its credential away.
		ctx, done, ok := h.open.track(r.Context(), cred, h.tokens.Load())
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kiln"`)
			writeError(w, http.StatusUnauthorized, fmt.Sprintf("the credential %q was just removed, changed or narrowed", cred.name))
			return
		}
		defer done()
		mux.ServeHTTP(w, r.WithContext(ctx))
	})
}

// scopeOf is the scope a route of the control API needs: reading is read,
// queueing jobs is submit (one, a batch or a stream: the same jobs by
// other means), everything that changes jobs or the daemon otherwise is
// admin. A route not listed needs admin.
func scopeOf(pattern string) Scope {
	method, path, _ := strings.Cut(pattern, " ")
	switch {
	case method == http.MethodGet || method == http.MethodHead:
		return ScopeRead
	case method == http.MethodPost && (path == api.Version+"/jobs" || path == api.Version+"/jobs/batch" || path == api.StreamPath):
		return ScopeSubmit
	}
	return ScopeAdmin
}
