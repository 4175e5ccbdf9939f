package dashboard

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"kiln/daemon/chartstore"
	"kiln/worker"
)

// queueRowOf is the table row of queue on the queues page.
func queueRowOf(t *testing.T, page, queue string) string {
	t.Helper()
	start := strings.Index(page, `data-queue="`+queue+`">`)
	if start < 0 {
		t.Fatalf("no row of %s on the page:\n%s", queue, page)
	}
	row := page[start:]
	end := strings.Index(row, "</tr>")
	if end < 0 {
		t.Fatalf("the row of %s does not end", queue)
	}
	return row[:end]
}

// heldMark is the mark of a queue its rate holds back: the visible badge,
// and what a screen reader says besides.
const (
	heldBadge = `<span class="badge badge-rate">held by rate 20/s<span class="visually-hidden">`
	heldWords = "due jobs wait, with workers free on this host, until the queue's rate lets them start"
)

// A queue its rate holds back is marked with the rate and words for a
// screen reader, within the page's CSP (a class, no inline style); a
// queue with a rate that nothing holds back, and one with none, are not.
func TestQueuesPage_MarksAQueueHeldByItsRate(t *testing.T) {
	t.Parallel()
	twenty := worker.Rate{Count: 20, Per: time.Second}
	rates := map[string]worker.Rate{"images": twenty, "mail": twenty}
	for _, c := range []struct {
		name   string
		held   []string
		marked map[string]bool
	}{
		{"images held", []string{"images"}, map[string]bool{"images": true}},
		{"none held", nil, map[string]bool{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			hour := map[chartstore.Span]*chartstore.Snapshot{chartstore.SpanHour: hourOf(time.Now().Truncate(time.Minute))}
			code, _, page := getQueuesPage(t, &chartsBackend{snaps: hour, heldByRate: c.held, rates: rates}, "")
			if code != http.StatusOK {
				t.Fatalf("status %d, page:\n%s", code, page)
			}
			if strings.Contains(page, "style=") {
				t.Errorf("the page has an inline style, which its CSP refuses")
			}
			for _, q := range []string{"images", "mail"} {
				row := queueRowOf(t, page, q)
				has := strings.Contains(row, heldBadge) && strings.Contains(row, heldWords)
				if has != c.marked[q] {
					t.Errorf("row of %s marked held by its rate: %v, want %v:\n%s", q, has, c.marked[q], row)
				}
				if !c.marked[q] && strings.Contains(row, "badge-rate") {
					t.Errorf("row of %s has a rate badge while nothing holds it back:\n%s", q, row)
				}
			}
		})
	}
}
