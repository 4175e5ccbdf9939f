package daemon

import (
	"net/http"

	"kiln/api"
)

// route is one route of the control API: its pattern, as net/http's mux
// takes it ("METHOD /path/{name}"), and its handler. The mux is built from
// routes() and from nothing else, so that the list is also what the API's
// document (api/openapi.json) is checked against.
type route struct {
	pattern string
	handler http.Handler
	// open routes answer GET and HEAD on the TCP listener without a token:
	// the health checks, which load balancers ask and which tell nothing
	// an attacker could use.
	open bool
}

// routes is every route of the control API, served on the control socket
// and, behind the bearer tokens, on the TCP listener. The dashboard's
// pages under /ui/ are the TCP listener's own, not part of the API.
func (s *controlServer) routes() []route {
	v := api.Version
	f := func(pattern string, h http.HandlerFunc) route { return route{pattern: pattern, handler: h} }
	return []route{
		f("POST "+v+"/jobs", s.submit),
		f("POST "+v+"/jobs/batch", s.submitBatch),
		f("POST "+api.StreamPath, s.submitStream),
		f("GET "+v+"/jobs", s.list),
		f("DELETE "+v+"/jobs", s.purge),
		f("GET "+v+"/jobs/{id}", s.job),
		f("POST "+v+"/jobs/{id}/cancel", s.cancel),
		f("POST "+v+"/jobs/{id}/retry", s.retry),
		f("POST "+v+"/dead/retry", s.retryDead),
		f("POST "+v+"/queues/{name}/pause", s.pause),
		f("POST "+v+"/queues/{name}/resume", s.resume),
		f("GET "+v+"/status", s.status),
		f("POST "+v+"/reload", s.reload),
		f("GET "+v+"/events", s.events),
		f("GET "+v+"/schedules", s.schedules),
		f("GET "+api.OpenAPIPath, serveOpenAPI),
		{pattern: "GET /metrics", handler: s.d.metrics.Handler()},
		{pattern: "GET " + healthzPath, handler: http.HandlerFunc(s.healthz), open: true},
		{pattern: "GET " + readyzPath, handler: http.HandlerFunc(s.readyz), open: true},
	}
}

// serveOpenAPI is GET /v1/openapi.json: the API's document, as built in.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(api.OpenAPI)
}
