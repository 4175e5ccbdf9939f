package daemon

import (
	"reflect"
	"strings"
	"testing"

	"kiln/api"
)

// submitSeeds are submits of the shapes applications send, and of shapes
// the plain decode must leave to encoding/json.
var submitSeeds = []string{
	`{"type":"noop"}`,
	`{"type":"noop","payload":{"data":"` + strings.Repeat("abcdefghij", 100) + `"}}`,
	`{"type":"image","payload":{"path":"/srv/in/a.jpg","pipeline":"thumbs"},"queue":"images","priority":7,"run_in":"5m","unique_key":"a.jpg","max_attempts":3,"timeout":"30s"}`,
	` { "type" : "noop" , "payload" : [1, {"y":"}"}, "\"q\\"] , "priority" : -2 } `,
	`{"type":"noop","run_at":"2026-12-03T10:00:00Z"}`,
	`{}`,
	`{"type":"noop","payload":null}`,
	`{"type":"n\u006fop"}`,
	`{"TYPE":"noop"}`,
	`{"type":"noop","colour":"red"}`,
	`{"type":"noop","type":"other"}`,
	`{"type":"noop","priority":1.5}`,
	`{"type":"noop","priority":1e2}`,
	`{"type":"noop","priority":99999999999999999999}`,
	`{"type":"noop","priority":"7"}`,
	`{"type":"noop",}`,
	`{"type":"noop"} {"type":"noop"}`,
	`{"type":"no` + "\xff" + `op"}`,
	`{"type":"noop","payload":{"a":01}}`,
	`{"tag":"t1","type":"noop"}`,
	`[]`,
	`{"type":`,
	``,
}

// The plain decode takes only what encoding/json decodes, and decodes it to
// the same request.
func FuzzDecodeSubmitPlain(f *testing.F) {
	for _, s := range submitSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkPlainMatchesObject(t, data)
	})
}

func TestDecodeSubmitPlain_MatchesDecodeObject(t *testing.T) {
	t.Parallel()
	for _, s := range submitSeeds {
		checkPlainMatchesObject(t, []byte(s))
	}
}

func checkPlainMatchesObject(t *testing.T, data []byte) {
	t.Helper()
	var plain api.SubmitRequest
	if decodeSubmitPlain(data, &plain, nil) {
		var slow api.SubmitRequest
		if err := decodeObject(data, &slow, submitFields); err != nil {
			t.Fatalf("%q: the plain decode took it, decodeObject refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(plain, slow) {
			t.Fatalf("%q: the plain decode gives %+v, decodeObject %+v", data, plain, slow)
		}
	} else if !reflect.DeepEqual(plain, api.SubmitRequest{}) {
		t.Fatalf("%q: refused, but set %+v", data, plain)
	}
	var line api.StreamSubmit
	if decodeSubmitPlain(data, &line.SubmitRequest, &line.Tag) {
		var slow api.StreamSubmit
		if err := decodeObject(data, &slow, streamFields); err != nil {
			t.Fatalf("%q as a stream line: the plain decode took it, decodeObject refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(line, slow) {
			t.Fatalf("%q as a stream line: the plain decode gives %+v, decodeObject %+v", data, line, slow)
		}
	}
}

// The shapes applications send do take the one pass, or it saves nothing.
func TestDecodeSubmitPlain_TakesTheCommonShapes(t *testing.T) {
	t.Parallel()
	for _, s := range []string{submitSeeds[0], submitSeeds[1], submitSeeds[2], submitSeeds[3], submitSeeds[4], submitSeeds[5]} {
		var req api.SubmitRequest
		if !decodeSubmitPlain([]byte(s), &req, nil) {
			t.Errorf("%.80s: not taken by the plain decode", s)
		}
	}
	var line api.StreamSubmit
	if !decodeSubmitPlain([]byte(`{"tag":"t1","type":"noop","payload":{"a":1}}`), &line.SubmitRequest, &line.Tag) || line.Tag != "t1" || string(line.Payload) != `{"a":1}` {
		t.Errorf("stream line: got %+v", line)
	}
	var req api.SubmitRequest
	if decodeSubmitPlain([]byte(`{"tag":"t1","type":"noop"}`), &req, nil) {
		t.Errorf("a tag is not a field of a one-job submit, but the plain decode took it: %+v", req)
	}
}
