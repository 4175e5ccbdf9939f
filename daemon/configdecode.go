package daemon

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"kiln/worker"
)

// The config is decoded key by key rather than in one go, so that every
// problem in the file is reported at once, each with its full key
// ("pipelines.web.variants[2].quality"): a decoder that stops at the first
// bad value makes an operator fix a file one line per try.

// configDecoder decodes a parsed TOML tree onto Go values that already hold
// their defaults, reporting each unknown key and each value of the wrong
// type.
type configDecoder struct {
	report func(key, msg string)
	// entryDefaults gives the starting value of a new entry of a map of
	// tables (such as a [queues.NAME] table), by the entry's type.
	entryDefaults map[reflect.Type]func() reflect.Value
}

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// configValueDecoder is a value that takes its TOML value as it is, of
// whichever type (a schedule's payload: a table or a string of JSON).
type configValueDecoder interface {
	DecodeConfigValue(v any) error
}

var valueDecoder = reflect.TypeOf((*configValueDecoder)(nil)).Elem()

// decode sets dst (addressable) from v, the TOML value at key.
func (d *configDecoder) decode(key string, v any, dst reflect.Value) {
	if dst.CanAddr() && dst.Addr().Type().Implements(valueDecoder) {
		if err := dst.Addr().Interface().(configValueDecoder).DecodeConfigValue(v); err != nil {
			d.report(key, err.Error())
		}
		return
	}
	if dst.CanAddr() && dst.Addr().Type().Implements(textUnmarshaler) {
		s, ok := v.(string)
		if !ok {
			d.report(key, fmt.Sprintf("must be a string, not %s", tomlKind(v)))
			return
		}
		if err := dst.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			d.report(key, err.Error())
		}
		return
	}
	switch dst.Kind() {
	case reflect.Struct:
		table, ok := v.(map[string]any)
		if !ok {
			d.report(key, fmt.Sprintf("must be a table, not %s", tomlKind(v)))
			return
		}
		d.decodeStruct(key, table, dst)
	case reflect.Map:
		table, ok := v.(map[string]any)
		if !ok {
			d.report(key, fmt.Sprintf("must be a table, not %s", tomlKind(v)))
			return
		}
		if dst.IsNil() {
			dst.Set(reflect.MakeMap(dst.Type()))
		}
		for _, name := range sortedKeys(table) {
			elem := reflect.New(dst.Type().Elem()).Elem()
			if existing := dst.MapIndex(reflect.ValueOf(name)); existing.IsValid() {
				elem.Set(existing)
			} else if def := d.entryDefaults[elem.Type()]; def != nil {
				elem.Set(def())
			} else if def, ok := elem.Addr().Interface().(worker.EntryDefaulter); ok {
				def.SetDefaults()
			}
			d.decode(key+"."+name, table[name], elem)
			dst.SetMapIndex(reflect.ValueOf(name), elem)
		}
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			if tables, isTables := v.([]map[string]any); isTables {
				for _, t := range tables {
					list = append(list, t)
				}
			} else {
				d.report(key, fmt.Sprintf("must be an array, not %s", tomlKind(v)))
				return
			}
		}
		out := reflect.MakeSlice(dst.Type(), len(list), len(list))
		for i, item := range list {
			d.decode(fmt.Sprintf("%s[%d]", key, i), item, out.Index(i))
		}
		dst.Set(out)
	case reflect.Pointer:
		elem := reflect.New(dst.Type().Elem())
		d.decode(key, v, elem.Elem())
		dst.Set(elem)
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			d.report(key, fmt.Sprintf("must be a string, not %s", tomlKind(v)))
			return
		}
		dst.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			d.report(key, fmt.Sprintf("must be true or false, not %s", tomlKind(v)))
			return
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, ok := v.(int64)
		if !ok {
			d.report(key, fmt.Sprintf("must be an integer, not %s", tomlKind(v)))
			return
		}
		if dst.OverflowInt(n) {
			d.report(key, fmt.Sprintf("%d is out of range", n))
			return
		}
		dst.SetInt(n)
	case reflect.Float64:
		switch n := v.(type) {
		case float64:
			dst.SetFloat(n)
		case int64:
			dst.SetFloat(float64(n))
		default:
			d.report(key, fmt.Sprintf("must be a number, not %s", tomlKind(v)))
		}
	default:
		d.report(key, fmt.Sprintf("cannot be decoded into %s", dst.Type()))
	}
}

// decodeStruct sets the fields of a struct from a table, by their toml tags;
// embedded structs share their parent's table.
func (d *configDecoder) decodeStruct(key string, table map[string]any, dst reflect.Value) {
	fields := map[string]reflect.Value{}
	collectFields(dst, fields)
	d.decodeFields(key, table, fields)
}

// decodeTables sets the top-level tables of a file, each onto the struct
// among dsts (the daemon's config and the plugins') that has a field of
// its name; checkPlugins has made sure that no two have one.
func (d *configDecoder) decodeTables(tree map[string]any, dsts ...reflect.Value) {
	fields := map[string]reflect.Value{}
	for _, dst := range dsts {
		collectFields(dst, fields)
	}
	d.decodeFields("", tree, fields)
}

func (d *configDecoder) decodeFields(key string, table map[string]any, fields map[string]reflect.Value) {
	for _, name := range sortedKeys(table) {
		full := name
		if key != "" {
			full = key + "." + name
		}
		f, ok := fields[name]
		if !ok {
			d.report(full, "unknown key")
			continue
		}
		d.decode(full, table[name], f)
	}
}

func collectFields(v reflect.Value, into map[string]reflect.Value) {
	for _, f := range tableFields(v) {
		into[f.name] = f.value
	}
}

// tableField is one key of a struct that stands for a TOML table.
type tableField struct {
	name  string
	value reflect.Value
}

// tableFields are the keys of a struct, by their toml tags, in the order
// of the fields; an embedded struct's come in its place.
func tableFields(v reflect.Value) []tableField {
	var out []tableField
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			out = append(out, tableFields(v.Field(i))...)
			continue
		}
		tag, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
		if tag == "" || tag == "-" || !sf.IsExported() {
			continue
		}
		out = append(out, tableField{tag, v.Field(i)})
	}
	return out
}

// tomlKind names the type of a TOML value as the file's author knows it.
func tomlKind(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("a string (%q)", v)
	case int64:
		return fmt.Sprintf("an integer (%d)", v)
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return "a special float"
		}
		return fmt.Sprintf("a number (%g)", v)
	case bool:
		return fmt.Sprintf("a boolean (%v)", v)
	case time.Time:
		return "a date-time"
	case map[string]any:
		return "a table"
	case []any, []map[string]any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}
