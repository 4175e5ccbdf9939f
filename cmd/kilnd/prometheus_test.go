package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"kiln/e2e/instance"
)

// A real Prometheus scrapes a real kilnd over its TCP listener with a
// read token, and a query through Prometheus's HTTP API finds kiln's
// counter of finished jobs at the number of jobs run.
func TestPrometheusScrapesKilnd(t *testing.T) {
	t.Parallel()
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed (make deps-test installs Debian's package)")
	}
	e := newEnv(t)
	kilnAddr := freeAddr(t)
	const token = "scrape-token-0123456789"
	tokens := e.writeTokens(t, tokenLine{"prometheus", "read", token})
	e.writeConfig(t, e.configText("", "\n[queues.counted]\nconcurrency = 4\n"+httpTable(kilnAddr, tokens, "")))
	e.start(t)

	const jobs = 37
	e.submitNoops(t, "counted", jobs)

	promDir := filepath.Join(e.dir, "prometheus")
	if err := os.MkdirAll(promDir, 0o755); err != nil {
		t.Fatal(err)
	}
	credentials := filepath.Join(promDir, "token")
	if err := os.WriteFile(credentials, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	promConfig := filepath.Join(promDir, "prometheus.yml")
	if err := os.WriteFile(promConfig, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: kiln
    authorization:
      type: Bearer
      credentials_file: %s
    static_configs:
      - targets: [%q]
`, credentials, kilnAddr)), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := freeAddr(t)
	var promLog instance.LogBuffer
	prom := exec.Command(promBin, "--config.file="+promConfig, "--storage.tsdb.path="+filepath.Join(promDir, "data"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	prom.Stdout, prom.Stderr = &promLog, &promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		prom.Process.Kill()
		prom.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", promLog.String())
		}
	})

	query := func(q string) (float64, bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+promAddr+"/api/v1/query?query="+url.QueryEscape(q), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, false // not up yet
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var answer struct {
			Status string
			Data   struct {
				Result []struct {
					Value [2]any `json:"value"`
				}
			}
		}
		if err := json.Unmarshal(body, &answer); err != nil || answer.Status != "success" || len(answer.Data.Result) != 1 {
			return 0, false
		}
		s, _ := answer.Data.Result[0].Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		return v, err == nil
	}
	want := map[string]float64{
		`sum(kiln_jobs_finished_total{job="kiln",queue="counted",kind="noop",outcome="succeeded"})`: jobs,
		`kiln_jobs{job="kiln",queue="counted",state="succeeded"}`:                                   jobs,
		`kiln_jobs{job="kiln",queue="counted",state="queued"}`:                                      0,
		`count(kiln_build_info{job="kiln"})`:                                                        1,
		`up{job="kiln"}`:                                                                            1,
	}
	deadline := time.Now().Add(90 * time.Second)
	for q, v := range want {
		for {
			got, ok := query(q)
			if ok && got == v {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Prometheus query %s: got %v (answered %v), want %v", q, got, ok, v)
			}
			time.Sleep(200 * time.Millisecond) // polling Prometheus's answer, with a deadline
		}
	}
}
