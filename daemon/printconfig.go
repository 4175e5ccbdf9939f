package daemon

import (
	"encoding"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"kiln/worker"
)

// -print-config writes the config kilnd would run with, merged from the
// main file and its drop-ins, as TOML that kilnd reads back: every key,
// the daemon's and the plugins', with the value in effect (paths made
// absolute, derived values filled in) and, after it, where it comes from.
// Every key is printed, not only those the files set, so that what a
// default is need not be looked up.

// defaultOrigin marks a value no file sets: a default, or one kilnd
// derives from other keys.
const defaultOrigin = "(default)"

// originColumn is where the origins line up, unless a value is longer.
const originColumn = 48

// printConfig is -print-config: the merged config with each value's
// origin on stdout, or every problem of the files on stderr and exit 78,
// as -check-config. It makes none of the start checks: it shows what the
// files say, even while a file they name is missing.
func printConfig(opts Options, plugins []worker.Plugin) int {
	cfg, err := loadConfig(opts, plugins)
	if err != nil {
		fmt.Fprintln(opts.Stderr, err)
		return ExitConfig
	}
	if err := cfg.WriteTOML(opts.Stdout); err != nil {
		fmt.Fprintf(opts.Stderr, "kilnd: -print-config: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}

// WriteTOML writes the config as -print-config shows it.
func (c *Config) WriteTOML(w io.Writer) error {
	p := &configPrinter{sources: c.sources}
	p.header(c)
	root := reflect.ValueOf(c).Elem()
	fields := tableFields(root)
	for _, pc := range c.plugins {
		fields = append(fields, tableFields(reflect.ValueOf(pc).Elem())...)
	}
	p.table("", "", "", fields, c.tree)
	_, err := io.WriteString(w, p.out.String())
	return err
}

type configPrinter struct {
	sources *configSources
	out     strings.Builder
}

func (p *configPrinter) header(c *Config) {
	p.out.WriteString("# kilnd -print-config: the configuration in effect, merged in this order from\n")
	for _, name := range c.sources.names() {
		p.out.WriteString("#   " + name + "\n")
	}
	if len(c.ignored) > 0 {
		p.out.WriteString("# Left out of " + DropInDirName + " (not a *.toml, or hidden): " + strings.Join(c.ignored, ", ") + "\n")
	}
	p.out.WriteString("# After each value: the file and line that set it last, or " + defaultOrigin + " when\n")
	p.out.WriteString("# no file sets it (a built-in default, or a value derived from others).\n")
	p.out.WriteString("# Secrets are shown as " + masked + ": the password and query of a URL, env values.\n")
}

// printedValue is one key = value line of a table and its origin.
type printedValue struct{ text, origin string }

// table prints the table at key (as the decoder names it, with array
// indices) whose TOML header is path: its header and values, then its
// tables and arrays of tables. node is what the files set of it, nil for
// none. A table with no value of its own gets no header, as TOML needs
// none for it.
func (p *configPrinter) table(header, key, path string, fields []tableField, node map[string]any) {
	var values []printedValue
	type subTable struct {
		name  string
		value reflect.Value
	}
	var tables, arrays []subTable
	for _, f := range fields {
		v := f.value
		for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
			if v.IsNil() {
				break
			}
			v = v.Elem()
		}
		switch {
		case (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && v.IsNil():
			// An optional key left unset, such as a variant's compression.
		case isTableValue(v):
			tables = append(tables, subTable{f.name, v})
		case isArrayOfTables(v):
			arrays = append(arrays, subTable{f.name, v})
		default:
			full := joinKey(key, f.name)
			origin := defaultOrigin
			if _, set := node[f.name]; set {
				origin = p.sources.origin(full)
			}
			values = append(values, printedValue{tomlKey(f.name) + " = " + tomlValue(full, v), origin})
		}
	}
	if len(values) > 0 {
		if header != "" {
			p.out.WriteString("\n" + header + "\n")
		}
		p.values(values)
	}
	for _, t := range tables {
		sub, _ := node[t.name].(map[string]any)
		p.table("["+joinPath(path, t.name)+"]", joinKey(key, t.name), joinPath(path, t.name), subFields(t.value), sub)
	}
	for _, a := range arrays {
		elems := arrayNodes(node[a.name])
		for i := 0; i < a.value.Len(); i++ {
			var sub map[string]any
			if i < len(elems) {
				sub = elems[i]
			}
			elem := a.value.Index(i)
			for elem.Kind() == reflect.Pointer {
				elem = elem.Elem()
			}
			p.table("[["+joinPath(path, a.name)+"]]", fmt.Sprintf("%s[%d]", joinKey(key, a.name), i), joinPath(path, a.name), subFields(elem), sub)
		}
	}
}

// values writes a table's lines with their origins lined up.
func (p *configPrinter) values(values []printedValue) {
	width := 0
	for _, v := range values {
		if n := len(v.text); n > width && n <= originColumn {
			width = n
		}
	}
	for _, v := range values {
		pad := max(width-len(v.text), 0) + 2
		p.out.WriteString(v.text + strings.Repeat(" ", pad) + "# " + v.origin + "\n")
	}
}

// subFields are the keys of a table value: a struct's fields, or a map's
// entries in name order.
func subFields(v reflect.Value) []tableField {
	if v.Kind() == reflect.Struct {
		return tableFields(v)
	}
	var out []tableField
	for _, k := range sortedMapKeys(v) {
		out = append(out, tableField{k, v.MapIndex(reflect.ValueOf(k))})
	}
	return out
}

func sortedMapKeys(v reflect.Value) []string {
	keys := make([]string, 0, v.Len())
	for _, k := range v.MapKeys() {
		keys = append(keys, k.String())
	}
	slices.Sort(keys)
	return keys
}

// arrayNodes are the tables of an array of tables as the TOML decoder
// gives them, which depends on how the file wrote them.
func arrayNodes(v any) []map[string]any {
	switch v := v.(type) {
	case []map[string]any:
		return v
	case []any:
		out := make([]map[string]any, len(v))
		for i, e := range v {
			out[i], _ = e.(map[string]any)
		}
		return out
	}
	return nil
}

var textMarshaler = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()

// isTableValue says whether v is written as a table: a struct or a map
// with string keys, but for a value that is written as text (a duration,
// a size).
func isTableValue(v reflect.Value) bool {
	if v.Type().Implements(textMarshaler) {
		return false
	}
	switch v.Kind() {
	case reflect.Struct:
		return true
	case reflect.Map:
		return v.Type().Key().Kind() == reflect.String
	}
	return false
}

// isArrayOfTables says whether v is a list of tables with at least one:
// an empty one is written as [].
func isArrayOfTables(v reflect.Value) bool {
	if v.Kind() != reflect.Slice || v.Len() == 0 {
		return false
	}
	elem := reflect.New(v.Type().Elem()).Elem()
	for elem.Kind() == reflect.Pointer {
		elem = reflect.New(elem.Type().Elem()).Elem()
	}
	return isTableValue(elem)
}

// tomlValue writes a value that is not a table, the strings among it
// with their secrets masked.
func tomlValue(key string, v reflect.Value) string {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return `""`
		}
		v = v.Elem()
	}
	if v.Type().Implements(textMarshaler) {
		text, err := v.Interface().(encoding.TextMarshaler).MarshalText()
		if err != nil {
			return tomlString(fmt.Sprintf("(%v)", err))
		}
		return tomlString(string(text))
	}
	switch v.Kind() {
	case reflect.String:
		return tomlString(maskSecrets(key, v.String()))
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return tomlFloat(v.Float())
	case reflect.Slice, reflect.Array:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = tomlValue(fmt.Sprintf("%s[%d]", key, i), v.Index(i))
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return tomlString(fmt.Sprint(v.Interface()))
}

// tomlFloat writes f so that TOML reads it back as a float, not an
// integer.
func tomlFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// tomlString writes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// tomlKey writes one part of a key, quoted when it is not a bare key.
func tomlKey(k string) string {
	if bareKey.MatchString(k) {
		return k
	}
	return tomlString(k)
}

// joinPath is a table header's dotted key.
func joinPath(path, name string) string {
	if path == "" {
		return tomlKey(name)
	}
	return path + "." + tomlKey(name)
}

// joinKey is a key as the decoder and the problems name it.
func joinKey(key, name string) string {
	if key == "" {
		return name
	}
	return key + "." + name
}
