package dashboard

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"kiln/api"
	"kiln/daemon/chartstore"
	"kiln/kilntype"
	"kiln/worker"
)

// pageData is what every page template gets.
type pageData struct {
	Title string
	User  string
	Admin bool
	CSRF  string
	Path  string // the page's own URL, where forms come back to
	// Live is the query of the event stream whose events refresh the page;
	// "" for a page that does not update itself.
	Live string
	Data any
}

var pageNames = []string{"login", "queues", "jobs", "job", "dead", "error"}

func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"since": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return time.Since(t).Round(time.Second).String() + " ago"
		},
		"when": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05Z")
		},
		"count": func(m map[kilntype.State]int, s string) int { return m[kilntype.State(s)] },
		"rate":  func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
		"esc":   url.QueryEscape,
		"dict":  func(p pageData, jobs []jobRow) jobTable { return jobTable{p, jobs} },
	}
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		pages[name] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/layout.html", "assets/jobtable.html", "assets/"+name+".html"))
	}
	return pages
}

// render writes a page, or only its main part when the page's own script
// asks for it to refresh itself.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, name string, p pageData) {
	if sess := sessionOf(r); sess != nil {
		p.User, p.Admin, p.CSRF = sess.login.User, sess.allows(scopeAdmin), sess.csrf
	}
	p.Path = r.URL.RequestURI()
	if p.Live != "" {
		p.Live += "&since=" + strconv.FormatUint(d.backend.LastEventID(r.Context()), 10)
	}
	tmpl := "layout.html"
	if r.Header.Get("X-Kiln-Partial") == "1" {
		tmpl = "main"
	}
	var buf bytes.Buffer
	if err := d.pages[name].ExecuteTemplate(&buf, tmpl, p); err != nil {
		d.log.Error("dashboard: render page", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(buf.Bytes())
}

func (d *Dashboard) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	w.WriteHeader(code)
	d.render(w, r, "error", pageData{Title: "Error", Data: msg})
}

// queueRow is one queue on the queues page.
type queueRow struct {
	Name string
	*api.QueueStatus
	Waiting int
	Rate    worker.Rate // shown when the rate holds the queue back
}

func (d *Dashboard) queuesPage(w http.ResponseWriter, r *http.Request) {
	span, ok := chartstore.ParseSpan(r.URL.Query().Get("span"))
	if !ok {
		d.fail(w, r, http.StatusBadRequest, "span: "+strconv.Quote(r.URL.Query().Get("span"))+" is not hour or day")
		return
	}
	st, err := d.backend.Status(r.Context())
	if err != nil {
		d.fail(w, r, http.StatusServiceUnavailable, err.Error())
		return
	}
	var rows []queueRow
	for name, q := range st.Queues {
		rows = append(rows, queueRow{Name: name, QueueStatus: q, Rate: d.backend.QueueRate(name),
			Waiting: q.Counts[kilntype.StateQueued] + q.Counts[kilntype.StateScheduled] + q.Counts[kilntype.StateRetrying]})
	}
	slices.SortFunc(rows, func(a, b queueRow) int {
		if a.Name < b.Name {
			return -1
		}
		return 1
	})
	names := make([]string, len(rows))
	for i, q := range rows {
		names[i] = q.Name
	}
	// The charts are drawn even when they cannot be had: the counts above
	// them still can.
	var charts []queueCharts
	chartsErr := ""
	if snap, err := d.backend.Charts(r.Context(), span); err != nil {
		chartsErr = err.Error()
	} else {
		charts = chartsOf(snap, names)
	}
	per := "minute"
	if span == chartstore.SpanDay {
		per = "15 minutes"
	}
	d.render(w, r, "queues", pageData{Title: "Queues", Live: "follow=true", Data: struct {
		Status      *api.Status
		Queues      []queueRow
		States      []kilntype.State
		Span, Per   string
		Charts      []queueCharts
		ChartsError string
	}{st, rows, kilntype.States, string(span), per, charts, chartsErr}})
}

// jobTable is what the job list template gets.
type jobTable struct {
	Page pageData
	Jobs []jobRow
}

// jobRow is one job in a list, with the smallest of its pictures.
type jobRow struct {
	*worker.JobRecord
	Thumb int // index of the output to show, -1 for none
}

func (d *Dashboard) rows(jobs []*worker.JobRecord) []jobRow {
	rows := make([]jobRow, len(jobs))
	for i, j := range jobs {
		rows[i] = jobRow{JobRecord: j, Thumb: -1}
		_, files := d.backend.Outputs(j)
		for k, f := range files {
			if rows[i].Thumb < 0 || f.Width*f.Height < files[rows[i].Thumb].Width*files[rows[i].Thumb].Height {
				rows[i].Thumb = k
			}
		}
	}
	return rows
}

func (d *Dashboard) jobsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	queue, state := q.Get("queue"), worker.State(q.Get("state"))
	if state != "" && !state.Valid() {
		d.fail(w, r, http.StatusBadRequest, "unknown state "+string(state))
		return
	}
	jobs, err := d.backend.List(r.Context(), queue, state, 200)
	if err != nil {
		d.fail(w, r, http.StatusServiceUnavailable, err.Error())
		return
	}
	st, _ := d.backend.Status(r.Context())
	var queues []string
	if st != nil {
		for name := range st.Queues {
			queues = append(queues, name)
		}
		slices.Sort(queues)
	}
	d.render(w, r, "jobs", pageData{Title: "Jobs", Live: followQueue(queue), Data: struct {
		Queue, State string
		Queues       []string
		States       []kilntype.State
		Jobs         []jobRow
	}{queue, string(state), queues, kilntype.States, d.rows(jobs)}})
}

func (d *Dashboard) jobPage(w http.ResponseWriter, r *http.Request) {
	j, err := d.backend.Job(r.Context(), r.PathValue("id"))
	if errors.Is(err, worker.ErrNotFound) {
		d.fail(w, r, http.StatusNotFound, "no job "+r.PathValue("id"))
		return
	}
	if err != nil {
		d.fail(w, r, http.StatusServiceUnavailable, err.Error())
		return
	}
	_, files := d.backend.Outputs(j)
	var progress *worker.Progress
	if p, ok := d.backend.Progress(j.ID); ok && j.State == worker.StateRunning {
		progress = &p
	}
	// The page follows the job's progress too, while it runs.
	d.render(w, r, "job", pageData{Title: "Job " + j.ID, Live: "job=" + url.QueryEscape(j.ID) + "&progress=true", Data: struct {
		Job         *worker.JobRecord
		Description worker.JobDescription
		Payload     string
		Outputs     []worker.OutputFile
		Progress    *worker.Progress
		Chain       jobChain
	}{j, d.backend.Describe(j), string(j.Payload), files, progress, d.chainOf(r.Context(), j)}})
}

func (d *Dashboard) deadPage(w http.ResponseWriter, r *http.Request) {
	queue := r.URL.Query().Get("queue")
	jobs, err := d.backend.List(r.Context(), queue, worker.StateDead, 200)
	if err != nil {
		d.fail(w, r, http.StatusServiceUnavailable, err.Error())
		return
	}
	d.render(w, r, "dead", pageData{Title: "Dead jobs", Live: followQueue(queue), Data: struct {
		Queue string
		Jobs  []jobRow
	}{queue, d.rows(jobs)}})
}

// followQueue is the event-stream query a list page follows: every event,
// or one queue's.
func followQueue(queue string) string {
	live := url.Values{"follow": {"true"}}
	if queue != "" {
		live.Set("queue", queue)
	}
	return live.Encode()
}
