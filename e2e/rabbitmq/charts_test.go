package rabbitmq

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"kiln/internal/rabbitnode"
)

// The dashboard's charts are the fleet's: jobs run on a host that keeps
// records and on one that keeps none, and the queues page of each counts
// them all (the light host's, asked of the keeper). After the keeper
// restarts, its charts still count them, from its charts file.
func TestChartsCountTheFleet(t *testing.T) {
	node := rabbitnode.StartT(t)
	pics := picDir(t)
	prefix := uniquePrefix(t)
	urls := []string{brokerURL(node, "")}
	tokens := filepath.Join(shortDir(t, "kt"), "tokens")
	const token = "charts-reader-token-0123"
	if err := os.WriteFile(tokens, []byte("reader read "+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	listener := func() (string, string) {
		addr := freeAddr(t)
		return addr, fmt.Sprintf("\n[http]\nlisten = %q\ntokens = %q\n", addr, tokens)
	}
	addrA, httpA := listener()
	addrB, httpB := listener()
	a := startHost(t, "a", pics, hostConfig{urls: urls, prefix: prefix, extra: httpA})
	b := startHost(t, "b", pics, hostConfig{urls: urls, prefix: prefix, extra: "keep_records = false\n" + httpB})
	tl := follow(t, urls, prefix)

	const n = 200
	ids := submitThroughBoth(t, tl, pics, a, b, n)
	byHost := tl.firstRuns(ids)
	if len(byHost) != 2 {
		t.Fatalf("jobs ran on %d hosts, want both: %v", len(byHost), byHost)
	}

	for _, h := range []struct {
		name, addr string
	}{{"a", addrA}, {"b", addrB}} {
		web := loginDashboard(t, h.addr, token)
		waitFor(t, time.Minute, "the charts of "+h.name+" counting every job", func() (string, bool) {
			done, page := chartedDone(t, web, h.addr, "images")
			return fmt.Sprintf("%d done charted on %s (%s)", done, h.name, page), done == n
		})
	}
	t.Logf("jobs per kilnd %v; both queues pages chart %d done", byHost, n)

	a.stop(t)
	a.start(t)
	web := loginDashboard(t, addrA, token)
	waitFor(t, time.Minute, "a's charts after its restart", func() (string, bool) {
		done, page := chartedDone(t, web, addrA, "images")
		return fmt.Sprintf("%d done charted on a (%s)", done, page), done == n
	})
}

// loginDashboard logs in to a host's dashboard with a token, and returns
// the client that holds the session.
func loginDashboard(t *testing.T, addr, token string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	waitFor(t, 30*time.Second, "the dashboard of "+addr+" takes the login", func() (string, bool) {
		resp, err := c.PostForm("http://"+addr+"/ui/login", url.Values{"secret": {token}, "next": {"/ui/"}})
		if err != nil {
			return err.Error(), false
		}
		resp.Body.Close()
		u, _ := url.Parse("http://" + addr + "/ui/")
		return resp.Status, resp.StatusCode == http.StatusOK && len(jar.Cookies(u)) > 0
	})
	return c
}

var doneCell = regexp.MustCompile(`<tr><th scope="row">[^<]*</th><td>(\d+)</td>`)

// chartedDone sums the done attempts of a queue's hidden table of the
// last hour, as the queues page shows it; what else the page says, for
// a failure's message.
func chartedDone(t *testing.T, c *http.Client, addr, queue string) (int, string) {
	t.Helper()
	resp, err := c.Get("http://" + addr + "/ui/?span=hour")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	page := string(body)
	if resp.StatusCode != http.StatusOK {
		return 0, resp.Status
	}
	if i := strings.Index(page, `id="charts-error"`); i >= 0 {
		return 0, page[i:min(len(page), i+300)]
	}
	start := strings.Index(page, `<div class="queue-charts" data-queue="`+queue+`">`)
	if start < 0 {
		return 0, "no charts of " + queue
	}
	block := page[start:]
	if end := strings.Index(block, "</table>"); end >= 0 {
		block = block[:end]
	}
	done := 0
	for _, m := range doneCell.FindAllStringSubmatch(block, -1) {
		k, _ := strconv.Atoi(m[1])
		done += k
	}
	return done, "charted"
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
