package rabbitmq

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kiln/internal/rabbitnode"
)

// Two kilnd on two vhosts of one broker, with the same prefix, never see
// each other's jobs.
func TestVhostsKeepTenantsApart(t *testing.T) {
	node := rabbitnode.StartT(t)
	pics := picDir(t)
	for _, v := range []string{"t1", "t2"} {
		if _, err := node.Ctl("add_vhost", v); err != nil {
			t.Fatal(err)
		}
		if _, err := node.Ctl("set_permissions", "-p", v, "guest", ".*", ".*", ".*"); err != nil {
			t.Fatal(err)
		}
	}
	one := startHost(t, "one", pics, hostConfig{urls: []string{brokerURL(node, "t1")}, prefix: "kiln"})
	two := startHost(t, "two", pics, hostConfig{urls: []string{brokerURL(node, "t2")}, prefix: "kiln"})
	ids := map[*host][]string{one: submitImages(t, one, pics, 30), two: submitImages(t, two, pics, 20)}
	ctx := context.Background()
	for h, mine := range ids {
		waitFor(t, 2*time.Minute, h.name+"'s jobs done", func() (string, bool) {
			jobs, err := h.client().List(ctx, "", "", 0)
			if err != nil {
				return err.Error(), false
			}
			done := 0
			for _, j := range jobs {
				if j.State == "succeeded" {
					done++
				}
			}
			return fmt.Sprintf("%d of %d listed, %d done", len(jobs), len(mine), done), done == len(mine)
		})
		jobs, _ := h.client().List(ctx, "", "", 0)
		if len(jobs) != len(mine) {
			t.Errorf("%s lists %d jobs, want its own %d", h.name, len(jobs), len(mine))
		}
		for other, theirs := range ids {
			if other == h {
				continue
			}
			for _, id := range theirs {
				if _, err := h.client().Job(ctx, id, 0); err == nil {
					t.Errorf("%s sees %s's job %s", h.name, other.name, id)
				}
				if where := outputsOf(id, h); len(where) > 0 {
					t.Errorf("%s ran %s's job %s", h.name, other.name, id)
				}
			}
		}
	}
}

// A producer that is not kiln's code (Debian's amqp-publish) submits a job
// by the documented message format; it runs, and its event arrives.
func TestForeignProducer(t *testing.T) {
	publish, err := exec.LookPath("amqp-publish")
	if err != nil {
		t.Skip("amqp-publish is not installed (apt-get install amqp-tools)")
	}
	node := rabbitnode.StartT(t)
	pics := picDir(t)
	prefix := uniquePrefix(t)
	h := startHost(t, "a", pics, hostConfig{urls: []string{brokerURL(node, "")}, prefix: prefix})

	// An application following its jobs binds a queue of its own to the
	// events exchange.
	ch := rabbitnode.ChannelT(t, node)
	evq, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(evq.Name, "images.succeeded", prefix+".events", false, nil); err != nil {
		t.Fatal(err)
	}
	events, err := ch.Consume(evq.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}

	body := fmt.Sprintf(`{"type":"image","payload":{"pipeline":"web","input":%q}}`, filepath.Join(pics, "p.jpg"))
	// librabbitmq reads "host:port/" as the vhost "", not "/".
	out, err := exec.Command(publish, "--url="+strings.TrimSuffix(node.URL(""), "/"), "-e", prefix+".jobs", "-r", "images", "-p",
		"-C", "application/json", "-b", body).CombinedOutput()
	if err != nil {
		t.Fatalf("amqp-publish: %v\n%s", err, out)
	}
	// A message of the events exchange is a JSON array of the events
	// that share its routing key.
	var evs []jobEvent
	select {
	case d := <-events:
		if err := jsonUnmarshal(d.Body, &evs); err != nil || len(evs) != 1 || evs[0].Job == nil {
			t.Fatalf("events %s: %v", d.Body, err)
		}
	case <-time.After(time.Minute):
		t.Fatal("no succeeded event within a minute of amqp-publish")
	}
	ev := evs[0]
	// The host learns of the success from the same events, a moment later
	// than this reader may: ask it to answer once the job has finished.
	j, err := h.client().Job(context.Background(), ev.Job.ID, 30*time.Second)
	if err != nil || j.State != "succeeded" {
		t.Fatalf("job %s: %+v %v", ev.Job.ID, j, err)
	}
	if where := outputsOf(ev.Job.ID, h); len(where) != 1 {
		t.Errorf("outputs of the published job: %v", where)
	}
	if !strings.HasPrefix(j.Type, "image") {
		t.Errorf("job type %q", j.Type)
	}
}
