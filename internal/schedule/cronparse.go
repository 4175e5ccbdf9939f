package schedule

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cronField is one of the five fields of a cron expression.
type cronField struct {
	name     string
	min, max int // the values a number may take
	last     int // where *, */n and a/n end: 6 for day-of-week, whose 7 repeats Sunday
	names    map[string]int
}

var (
	minuteField = cronField{name: "minute", min: 0, max: 59, last: 59}
	hourField   = cronField{name: "hour", min: 0, max: 23, last: 23}
	domField    = cronField{name: "day-of-month", min: 1, max: 31, last: 31}
	monthField  = cronField{name: "month", min: 1, max: 12, last: 12, names: map[string]int{
		"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
		"JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12,
	}}
	dowField = cronField{name: "day-of-week", min: 0, max: 7, last: 6, names: map[string]int{
		"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6,
	}}
)

var cronMacros = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// ParseCron reads a cron expression of five fields (minute hour
// day-of-month month day-of-week) or a macro, evaluated in loc (nil means
// time.Local). The package documentation gives the rules.
func ParseCron(expr string, loc *time.Location) (Spec, error) {
	if loc == nil {
		loc = time.Local
	}
	written := strings.Join(strings.Fields(expr), " ")
	c, err := parseCronFields(written)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %w", written, err)
	}
	c.written, c.loc = written, loc
	return c, nil
}

func parseCronFields(written string) (*cronSpec, error) {
	fieldsText := written
	if strings.HasPrefix(written, "@") {
		macro, ok := cronMacros[strings.ToLower(written)]
		if !ok {
			return nil, fmt.Errorf("%s is not supported (macros: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)", written)
		}
		fieldsText = macro
	}
	fields := strings.Fields(fieldsText)
	if len(fields) != 5 {
		hint := ""
		if len(fields) == 6 {
			hint = "; a seconds or year field is not supported"
		}
		return nil, fmt.Errorf("want 5 fields (minute hour day-of-month month day-of-week), got %d%s", len(fields), hint)
	}
	c := &cronSpec{}
	var err error
	if c.minutes, err = minuteField.parse(fields[0]); err != nil {
		return nil, err
	}
	if c.hours, err = hourField.parse(fields[1]); err != nil {
		return nil, err
	}
	if c.doms, err = domField.parse(fields[2]); err != nil {
		return nil, err
	}
	if c.months, err = monthField.parse(fields[3]); err != nil {
		return nil, err
	}
	if c.dows, err = dowField.parse(fields[4]); err != nil {
		return nil, err
	}
	if c.dows&(1<<7) != 0 {
		c.dows = c.dows&^(1<<7) | 1<<0
	}
	c.domAny, c.dowAny = fields[2] == "*", fields[4] == "*"
	c.hoursWholeDay = wholeDayHours(fields[1])
	return c, nil
}

// wholeDayHours tells whether an hour field steps over the whole day, the
// case in which a repeated hour ticks twice to keep real-time spacing.
func wholeDayHours(field string) bool {
	base, _, _ := strings.Cut(field, "/")
	return base == "*" || base == "0-23"
}

// parse turns a field's list of terms into a set of values, bit v for v.
func (f cronField) parse(text string) (uint64, error) {
	var set uint64
	for term := range strings.SplitSeq(text, ",") {
		bits, err := f.term(term)
		if err != nil {
			return 0, err
		}
		set |= bits
	}
	return set, nil
}

func (f cronField) term(term string) (uint64, error) {
	if term == "" {
		return 0, fmt.Errorf("%s: empty item in list", f.name)
	}
	base, stepText, stepped := strings.Cut(term, "/")
	step := 1
	if stepped {
		n, err := strconv.Atoi(stepText)
		if err != nil || !allDigits(stepText) {
			return 0, fmt.Errorf("%s %q: step %q is not a number", f.name, term, stepText)
		}
		if n < 1 {
			return 0, fmt.Errorf("%s %q: step must be at least 1", f.name, term)
		}
		step = n
	}
	var lo, hi int
	switch loText, hiText, isRange := strings.Cut(base, "-"); {
	case base == "*":
		lo, hi = f.min, f.last
	case isRange:
		if loText == "" || hiText == "" {
			return 0, fmt.Errorf("%s %q: a range needs a value on each side of -", f.name, term)
		}
		var err error
		if lo, err = f.value(loText); err != nil {
			return 0, err
		}
		if hi, err = f.value(hiText); err != nil {
			return 0, err
		}
		if lo > hi {
			return 0, fmt.Errorf("%s %q: range runs backwards from %d to %d", f.name, term, lo, hi)
		}
	default:
		var err error
		if lo, err = f.value(base); err != nil {
			return 0, err
		}
		hi = lo
		if stepped {
			hi = max(f.last, lo)
		}
	}
	var set uint64
	for v := lo; v <= hi; v += step {
		set |= 1 << v
	}
	return set, nil
}

func (f cronField) value(text string) (int, error) {
	if text != "" && allDigits(text) {
		n, err := strconv.Atoi(text)
		if err != nil || n < f.min || n > f.max {
			return 0, fmt.Errorf("%s %s out of range %d-%d", f.name, text, f.min, f.max)
		}
		return n, nil
	}
	upper := strings.ToUpper(text)
	if v, ok := f.names[upper]; ok {
		return v, nil
	}
	if err := unsupportedSyntax(upper); err != nil {
		return 0, fmt.Errorf("%s %q: %w", f.name, text, err)
	}
	if f.names != nil {
		return 0, fmt.Errorf("%s %q: not a number or a name (%s)", f.name, text, nameList(f))
	}
	return 0, fmt.Errorf("%s %q: not a number", f.name, text)
}

// unsupportedSyntax names the extensions of other crons, so that their
// writer learns why the expression is refused.
func unsupportedSyntax(upper string) error {
	switch trimmed := strings.TrimRight(upper, "LW"); {
	case strings.Contains(upper, "?"):
		return errors.New("? is not supported (use *)")
	case strings.Contains(upper, "#"):
		return errors.New("# (n-th weekday of the month) is not supported")
	case trimmed != upper && allDigits(trimmed) && strings.Contains(upper, "W"):
		return errors.New("W (nearest weekday) is not supported")
	case trimmed != upper && allDigits(trimmed):
		return errors.New("L (last day) is not supported")
	}
	return nil
}

func nameList(f cronField) string {
	names := make([]string, f.max+1)
	for name, v := range f.names {
		names[v] = name
	}
	return strings.Join(names[f.min:f.last+1], ", ")
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
