package daemon

import (
	"slices"
	"strings"
	"testing"

	"kiln/worker"
	"kiln/worker/command"
	"kiln/worker/image"
	"kiln/worker/webhook"
)

// Each plugin sees only its own tables: the job types that a then may name
// reach it through the view, gathered from every plugin's config, so that
// a pipeline may be followed by a command and a then of nothing is a
// problem of its line. Webhook deliveries are no step of a chain.
func TestJobTypesReachEveryPlugin(t *testing.T) {
	t.Parallel()
	plugins := []worker.Plugin{image.PluginWithWorker(testWorkerBinary), webhook.Plugin(), command.Plugin()}
	text := `[pipelines.web]
output_dir = "/srv/web"
then = ["upload"]
[[pipelines.web.variants]]
name = "w"
width = 10

[commands.upload]
command = ["/bin/true"]
then = ["notify"]

[commands.notify]
command = ["/bin/true"]
`
	cfg, err := parseConfig("kiln.toml", []byte(text), "/etc/kiln", plugins)
	if err != nil {
		t.Fatalf("a pipeline followed by a command: %v", err)
	}
	if want := []string{"image", "noop", "notify", "upload"}; !slices.Equal(cfg.view.JobTypes, want) {
		t.Fatalf("JobTypes = %v, want %v", cfg.view.JobTypes, want)
	}

	bad := strings.Replace(text, `then = ["upload"]`, `then = ["uplaod", "webhook"]`, 1)
	_, err = parseConfig("kiln.toml", []byte(bad), "/etc/kiln", plugins)
	types := "image, noop, notify, upload"
	want := []string{
		`kiln.toml:3: pipelines.web.then[0]: "uplaod" is no job type (job types: ` + types + `)`,
		`kiln.toml:3: pipelines.web.then[1]: "webhook" is no job type (job types: ` + types + `)`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Fatalf("a then of nothing: %v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}
