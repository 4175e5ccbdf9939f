package daemon

import (
	"encoding/json"
	"strings"
	"testing"

	"kiln/api"
)

// The fast decode of a stream line accepts exactly what the strict
// decoder accepts, and refuses the rest with the strict decoder's words.
func TestDecodeStreamLineMatchesStrictDecoder(t *testing.T) {
	for _, line := range []string{
		`{"tag":"a","type":"noop"}`,
		` { "tag" : "a" , "type" : "noop" , "payload" : {"x":[1,{"y":"}"}],"z":"\"q\\"} , "priority" : 3 } `,
		`{"tag":"a","type":"noop","payload":[1,2,{"colour":"red"}],"max_attempts":2}`,
		`{"tag":"a","TYPE":"noop"}`,
		`{"tag":"a","type":"noop","colour":"red"}`,
		`{"tag":"a","type":"noop","payload":{"a":1},"colour":"red"}`,
		`{"tag":"a","ty\u0070e":"noop"}`,
		`{"tag":"a","priority":"high"}`,
		`{"tag":"a","payload":null,"unique_key":"k","run_in":"5m","timeout":"1s","queue":"q","run_at":""}`,
		`{"tag":"a"} {"tag":"b"}`,
		`{"tag":`,
		`[]`,
		`{}`,
	} {
		var fast api.StreamSubmit
		fastErr := decodeStreamLine([]byte(line), &fast)
		var strict api.StreamSubmit
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		strictErr := dec.Decode(&strict)
		if strictErr == nil && dec.More() {
			strictErr = errNotEOF
		}
		if (fastErr == nil) != (strictErr == nil) {
			t.Errorf("%s: fast decode says %v, strict decoder %v", line, fastErr, strictErr)
			continue
		}
		if fastErr == nil && (fast.Tag != strict.Tag || fast.Type != strict.Type || string(fast.Payload) != string(strict.Payload) || fast.Priority != strict.Priority) {
			t.Errorf("%s: fast decode %+v, strict %+v", line, fast, strict)
		}
	}
	var req api.StreamSubmit
	if err := decodeStreamLine([]byte(`{"tag":"a","colour":"red"}`), &req); err == nil || err.Error() != `unknown field "colour"` {
		t.Errorf("unknown field: %v", err)
	}
}

var errNotEOF = jsonError("data after the object")

type jsonError string

func (e jsonError) Error() string { return string(e) }
