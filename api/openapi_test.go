package api

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"kiln/internal/apidoc"
	"kiln/kilntype"
)

// The document holds together: OpenAPI 3.1, its $refs resolve, its
// schemas compile, its operations have IDs of their own and describe
// their path parameters.
func TestOpenAPIDocumentLoads(t *testing.T) {
	t.Parallel()
	if _, err := apidoc.Load(OpenAPI); err != nil {
		t.Fatal(err)
	}
}

// The document's schemas are this package's types: the same JSON fields,
// and, for what the daemon answers with, required exactly when Go always
// writes the field (no omitempty or omitzero). A request's required fields
// are what the daemon refuses a request without, which the types do not
// say; their fields must still match.
func TestOpenAPISchemasAreTheAPITypes(t *testing.T) {
	t.Parallel()
	doc, err := apidoc.Load(OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	answers := map[string]any{
		"Error": Error{}, "StreamAck": StreamAck{}, "AttemptError": kilntype.AttemptError{},
		"Progress": kilntype.Progress{}, "OutputFile": OutputFile{}, "JobDescription": JobDescription{},
		"Job": Job{}, "Submitted": Submitted{}, "Cancelled": Cancelled{}, "SubmittedList": SubmittedList{},
		"JobList": JobList{}, "Count": Count{}, "Reloaded": Reloaded{}, "QueueStatus": QueueStatus{},
		"Status": Status{}, "Event": Event{}, "Gap": Gap{}, "ProgressEvent": ProgressEvent{},
	}
	requests := map[string]any{"SubmitRequest": SubmitRequest{}, "BatchRequest": BatchRequest{}, "StreamSubmit": StreamSubmit{}}
	check := func(name string, v any, answer bool) {
		props, err := doc.Properties(name)
		if err != nil {
			t.Error(err)
			return
		}
		fields := jsonFields(reflect.TypeOf(v))
		for f, always := range fields {
			req, ok := props[f]
			switch {
			case !ok:
				t.Errorf("schema %s lacks %T's field %q", name, v, f)
			case answer && req != always:
				t.Errorf("schema %s: field %q required=%v, but Go writes it always=%v", name, f, req, always)
			}
		}
		for p := range props {
			if _, ok := fields[p]; !ok {
				t.Errorf("schema %s has %q, which %T has not", name, p, v)
			}
		}
	}
	for name, v := range answers {
		check(name, v, true)
	}
	for name, v := range requests {
		check(name, v, false)
	}
}

// The document's states are kilntype's, in its order.
func TestOpenAPIStatesAreKilntypes(t *testing.T) {
	t.Parallel()
	var want []string
	for _, s := range kilntype.States {
		want = append(want, string(s))
	}
	if got := stateEnum(t); !slices.Equal(got, want) {
		t.Errorf("State enum %v, kilntype.States %v", got, want)
	}
}

// stateEnum reads the State schema's enum from the document.
func stateEnum(t *testing.T) []string {
	t.Helper()
	var doc struct {
		Components struct {
			Schemas struct {
				State struct {
					Enum []string `json:"enum"`
				} `json:"State"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Components.Schemas.State.Enum
}

// jsonFields are the JSON fields encoding/json writes for struct type t,
// each true when it is written whatever its value.
func jsonFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, hasTag := f.Tag.Lookup("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && !hasTag {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero")
	}
	return out
}
