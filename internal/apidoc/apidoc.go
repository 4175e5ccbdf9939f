// Package apidoc reads the control API's OpenAPI document (api.OpenAPI)
// and holds requests and answers to it: which operations it describes,
// and whether a body is what the document says an operation takes or
// answers with a status. The schemas are JSON Schema 2020-12, as OpenAPI
// 3.1's are, checked by github.com/santhosh-tekuri/jsonschema with formats
// asserted. The tests of api and daemon use it.
package apidoc

import (
	"bufio"
	"bytes"
	"fmt"
	"mime"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// docURL names the document for the schema compiler, which resolves the
// schemas' $refs within it.
const docURL = "https://kiln.invalid/openapi.json"

// methods are the operation keys of an OpenAPI path item.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Doc is a parsed document.
type Doc struct {
	root     map[string]any
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema // by pointer
}

// Operation is one operation of the document.
type Operation struct {
	Method string // upper case, as net/http spells it
	Path   string // the path template, such as /v1/jobs/{id}
	// Open is an operation that needs no credential (its security is an
	// empty list); Scopes are the roles of the bearer token it needs
	// otherwise.
	Open   bool
	Scopes []string
	ptr    string
}

// Pattern is the operation as net/http's mux patterns spell a route.
func (o Operation) Pattern() string { return o.Method + " " + o.Path }

// Load parses the document and checks that it holds together: OpenAPI
// 3.1, every $ref resolving within it, every schema compiling, every
// operation with an operationId of its own and the path parameters of its
// path.
func Load(data []byte) (*Doc, error) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	root, ok := inst.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("openapi document: not a JSON object")
	}
	d := &Doc{root: root, schemas: map[string]*jsonschema.Schema{}}
	if v, _ := root["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		return nil, fmt.Errorf("openapi document: openapi is %q, not 3.1.x", v)
	}
	if err := d.checkRefs(root, ""); err != nil {
		return nil, err
	}
	d.compiler = jsonschema.NewCompiler()
	d.compiler.DefaultDraft(jsonschema.Draft2020)
	d.compiler.AssertFormat()
	if err := d.compiler.AddResource(docURL, root); err != nil {
		return nil, fmt.Errorf("openapi document: %w", err)
	}
	schemas, _ := d.get("/components/schemas").(map[string]any)
	for name := range schemas {
		if _, err := d.schema("/components/schemas/" + escape(name)); err != nil {
			return nil, err
		}
	}
	ids := map[string]string{}
	for _, op := range d.Operations() {
		id, _ := d.get(op.ptr + "/operationId").(string)
		if id == "" {
			return nil, fmt.Errorf("openapi document: %s has no operationId", op.Pattern())
		}
		if other, dup := ids[id]; dup {
			return nil, fmt.Errorf("openapi document: operationId %s is both %s's and %s's", id, other, op.Pattern())
		}
		ids[id] = op.Pattern()
		if err := d.checkPathParams(op); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Operations lists the document's operations, in no order.
func (d *Doc) Operations() []Operation {
	var ops []Operation
	paths, _ := d.root["paths"].(map[string]any)
	for path, item := range paths {
		item, _ := item.(map[string]any)
		for _, m := range methods {
			op, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			o := Operation{Method: strings.ToUpper(m), Path: path, ptr: "/paths/" + escape(path) + "/" + m}
			sec, ok := op["security"].([]any)
			if !ok {
				sec, _ = d.root["security"].([]any)
			}
			o.Open = len(sec) == 0
			for _, req := range sec {
				req, _ := req.(map[string]any)
				roles, _ := req["bearerToken"].([]any)
				for _, r := range roles {
					if s, ok := r.(string); ok && !slices.Contains(o.Scopes, s) {
						o.Scopes = append(o.Scopes, s)
					}
				}
			}
			ops = append(ops, o)
		}
	}
	return ops
}

// Properties are the properties of the component schema name, with those
// of the schemas it takes by $ref, each true when it is required.
func (d *Doc) Properties(name string) (map[string]bool, error) {
	ptr := "/components/schemas/" + escape(name)
	if _, ok := d.get(ptr).(map[string]any); !ok {
		return nil, fmt.Errorf("the document has no schema %s", name)
	}
	props := map[string]bool{}
	for range 8 {
		sch, _ := d.get(ptr).(map[string]any)
		ps, _ := sch["properties"].(map[string]any)
		for p := range ps {
			props[p] = props[p] || false
		}
		req, _ := sch["required"].([]any)
		for _, r := range req {
			if p, ok := r.(string); ok {
				props[p] = true
			}
		}
		ref, ok := sch["$ref"].(string)
		if !ok {
			break
		}
		ptr = strings.TrimPrefix(ref, "#")
	}
	return props, nil
}

// operation finds the operation of method on the path template path.
func (d *Doc) operation(method, path string) (string, error) {
	ptr := "/paths/" + escape(path) + "/" + strings.ToLower(method)
	if _, ok := d.get(ptr).(map[string]any); !ok {
		return "", fmt.Errorf("the document has no operation %s %s", method, path)
	}
	return ptr, nil
}

// CheckAnswer checks an answer of the operation method path (a path
// template): its status is one the operation lists, its media type one the
// status lists, and its body valid under that media type's schema. A body
// of application/x-ndjson is checked a line at a time; one of
// text/event-stream an event at a time, each event's data under the
// schema the media type's x-kiln-event-data gives its event type.
func (d *Doc) CheckAnswer(method, path string, status int, contentType string, body []byte) error {
	op, err := d.operation(method, path)
	if err != nil {
		return err
	}
	resp := d.follow(op + "/responses/" + strconv.Itoa(status))
	if _, ok := d.get(resp).(map[string]any); !ok {
		return fmt.Errorf("%s %s: the document lists no %d answer", method, path, status)
	}
	return d.checkContent(fmt.Sprintf("%s %s answer %d", method, path, status), resp, contentType, body)
}

// CheckRequest checks a request body of the operation method path against
// the operation's requestBody.
func (d *Doc) CheckRequest(method, path, contentType string, body []byte) error {
	op, err := d.operation(method, path)
	if err != nil {
		return err
	}
	rb := d.follow(op + "/requestBody")
	if _, ok := d.get(rb).(map[string]any); !ok {
		return fmt.Errorf("%s %s: the document describes no request body", method, path)
	}
	return d.checkContent(fmt.Sprintf("%s %s request", method, path), rb, contentType, body)
}

// checkContent checks body under the media type of the response or
// request body object at ptr.
func (d *Doc) checkContent(what, ptr, contentType string, body []byte) error {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("%s: Content-Type %q: %v", what, contentType, err)
	}
	content, _ := d.get(ptr + "/content").(map[string]any)
	if content == nil && len(body) == 0 {
		return nil
	}
	if _, ok := content[mt]; !ok {
		return fmt.Errorf("%s: media type %s is not one the document lists (%v)", what, mt, keys(content))
	}
	media := ptr + "/content/" + escape(mt)
	switch {
	case mt == "application/json":
		return d.validate(what, media+"/schema", body)
	case mt == "application/x-ndjson":
		for i, line := range bytes.Split(bytes.TrimRight(body, "\n"), []byte("\n")) {
			if err := d.validate(fmt.Sprintf("%s line %d", what, i+1), media+"/schema", line); err != nil {
				return err
			}
		}
		return nil
	case mt == "text/event-stream":
		return d.checkEvents(what, media, body)
	case strings.HasPrefix(mt, "text/") || mt == "application/openmetrics-text":
		sch, err := d.schema(media + "/schema")
		if err != nil {
			return err
		}
		if err := sch.Validate(string(body)); err != nil {
			return fmt.Errorf("%s: %q: %v", what, body, err)
		}
		return nil
	}
	return fmt.Errorf("%s: no check for media type %s", what, mt)
}

// checkEvents checks each event of a Server-Sent Events body.
func (d *Doc) checkEvents(what, media string, body []byte) error {
	kinds, _ := d.get(media + "/x-kiln-event-data").(map[string]any)
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	typ, data, n := "", "", 0
	for sc.Scan() {
		line := sc.Text()
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				typ = value
			case "data":
				data += value
			}
			continue
		}
		if data != "" {
			n++
			if _, ok := kinds[typ]; !ok {
				return fmt.Errorf("%s: event %d is of type %q, which the document does not list (%v)", what, n, typ, keys(kinds))
			}
			if err := d.validate(fmt.Sprintf("%s event %d (%s)", what, n, typ), media+"/x-kiln-event-data/"+escape(typ), []byte(data)); err != nil {
				return err
			}
		}
		typ, data = "", ""
	}
	return sc.Err()
}

// validate checks a JSON text against the schema at ptr.
func (d *Doc) validate(what, ptr string, body []byte) error {
	sch, err := d.schema(ptr)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: not JSON: %v: %q", what, err, body)
	}
	if err := sch.Validate(inst); err != nil {
		return fmt.Errorf("%s: %s does not match the document:\n%v", what, body, err)
	}
	return nil
}

// schema compiles the schema at ptr, once.
func (d *Doc) schema(ptr string) (*jsonschema.Schema, error) {
	if s := d.schemas[ptr]; s != nil {
		return s, nil
	}
	s, err := d.compiler.Compile(docURL + "#" + ptr)
	if err != nil {
		return nil, fmt.Errorf("openapi document: schema at %s: %w", ptr, err)
	}
	d.schemas[ptr] = s
	return s, nil
}

// follow resolves a Reference Object at ptr (a response, request body or
// parameter given as {"$ref": ...}) to the pointer of what it names.
func (d *Doc) follow(ptr string) string {
	for range 8 {
		obj, _ := d.get(ptr).(map[string]any)
		ref, ok := obj["$ref"].(string)
		if !ok || !strings.HasPrefix(ref, "#") {
			return ptr
		}
		ptr = strings.TrimPrefix(ref, "#")
	}
	return ptr
}

// get is the value at a JSON pointer ("" is the root), or nil.
func (d *Doc) get(ptr string) any {
	var v any = d.root
	if ptr == "" {
		return v
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := v.(type) {
		case map[string]any:
			v = c[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// checkRefs finds a $ref under v (at ptr) that does not resolve within the
// document.
func (d *Doc) checkRefs(v any, ptr string) error {
	switch c := v.(type) {
	case map[string]any:
		if ref, ok := c["$ref"].(string); ok {
			if !strings.HasPrefix(ref, "#/") || d.get(strings.TrimPrefix(ref, "#")) == nil {
				return fmt.Errorf("openapi document: $ref %q at %s does not resolve", ref, ptr)
			}
		}
		for k, e := range c {
			if err := d.checkRefs(e, ptr+"/"+escape(k)); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range c {
			if err := d.checkRefs(e, ptr+"/"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPathParams finds a {name} of an operation's path that none of its
// parameters (or its path item's) describes, or a path parameter that is
// not in the path.
func (d *Doc) checkPathParams(op Operation) error {
	declared := map[string]bool{}
	for _, at := range []string{op.ptr + "/parameters", "/paths/" + escape(op.Path) + "/parameters"} {
		list, _ := d.get(at).([]any)
		for i := range list {
			p, _ := d.get(d.follow(at + "/" + strconv.Itoa(i))).(map[string]any)
			if in, _ := p["in"].(string); in == "path" {
				name, _ := p["name"].(string)
				declared[name] = true
			}
		}
	}
	for _, seg := range strings.Split(op.Path, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			name = strings.TrimSuffix(name, "}")
			if !declared[name] {
				return fmt.Errorf("openapi document: %s: path parameter %s is not described", op.Pattern(), name)
			}
			delete(declared, name)
		}
	}
	for name := range declared {
		return fmt.Errorf("openapi document: %s: path parameter %s is not in the path", op.Pattern(), name)
	}
	return nil
}

// escape makes a key one token of a JSON pointer.
func escape(key string) string {
	return strings.ReplaceAll(strings.ReplaceAll(key, "~", "~0"), "/", "~1")
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
