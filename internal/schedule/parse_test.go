package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestParse_Keys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		every, cron, timezone string
		want                  string // String of the spec, or the error
	}{
		{every: "15m", want: "every 15m"},
		{every: " 90s ", want: "every 90s"},
		{cron: "0 3 * * *", timezone: "Europe/Paris", want: "cron 0 3 * * * (Europe/Paris)"},
		{cron: "0  3 *   * *", timezone: "UTC", want: "cron 0 3 * * * (UTC)"},
		{cron: "@daily", want: "cron @daily (Local)"},
		{want: "schedule: set one of every and cron"},
		{every: "1h", cron: "0 * * * *", want: `every "1h" and cron "0 * * * *": set only one of them`},
		{every: "1h", timezone: "Europe/Paris", want: `timezone "Europe/Paris": applies to cron only, and every "1h" ticks in real time`},
		{cron: "0 3 * * *", timezone: "Mars/Base", want: `timezone "Mars/Base": unknown time zone`},
		{cron: "0 25 * * *", want: `cron "0 25 * * *": hour 25 out of range 0-23`},
		{every: "0s", want: `every "0s": must be at least 1s`},
	} {
		spec, err := Parse(tc.every, tc.cron, tc.timezone)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = spec.String()
		}
		if got != tc.want {
			t.Errorf("Parse(%q, %q, %q) = %s; want %s", tc.every, tc.cron, tc.timezone, got, tc.want)
		}
	}
}

// values lists the members of a field's set of bits.
func values(set uint64) []int {
	var vs []int
	for v := 0; v < 64; v++ {
		if set&(1<<v) != 0 {
			vs = append(vs, v)
		}
	}
	return vs
}

func TestParseCron_Fields(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr                        string
		minutes, hours, doms, month string // the sets, printed
		dows                        string
		domAny, dowAny, wholeDay    bool
	}{
		{"* * * * *", "0-59", "0-23", "1-31", "1-12", "0-6", true, true, true},
		{"0 3 * * *", "0", "3", "1-31", "1-12", "0-6", true, true, false},
		{"*/15 */6 1,15 * 1-5", "0,15,30,45", "0,6,12,18", "1,15", "1-12", "1-5", false, false, true},
		{"5-20/5 0-23/12 10/10 JAN-mar/2 mon,WED,fri", "5,10,15,20", "0,12", "10,20,30", "1,3", "1,3,5", false, false, true},
		{"0 0 * * 7", "0", "0", "1-31", "1-12", "0", true, false, false},
		{"0 0 * * 5-7", "0", "0", "1-31", "1-12", "0,5-6", true, false, false},
		{"0 0 * * SUN-SAT", "0", "0", "1-31", "1-12", "0-6", true, false, false},
		{"0 0 * * 1/2", "0", "0", "1-31", "1-12", "1,3,5", true, false, false},
		{"0 0 */1 * *", "0", "0", "1-31", "1-12", "0-6", false, true, false},
		{"0 0 1,*/10 dec *", "0", "0", "1,11,21,31", "12", "0-6", false, true, false},
		{"0 8-17 * * *", "0", "8-17", "1-31", "1-12", "0-6", true, true, false},
		{"@yearly", "0", "0", "1", "1", "0-6", false, true, false},
		{"@annually", "0", "0", "1", "1", "0-6", false, true, false},
		{"@monthly", "0", "0", "1", "1-12", "0-6", false, true, false},
		{"@weekly", "0", "0", "1-31", "1-12", "0", true, false, false},
		{"@daily", "0", "0", "1-31", "1-12", "0-6", true, true, false},
		{"@MIDNIGHT", "0", "0", "1-31", "1-12", "0-6", true, true, false},
		{"@hourly", "0", "0-23", "1-31", "1-12", "0-6", true, true, true},
	} {
		spec, err := ParseCron(tc.expr, time.UTC)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		c := spec.(*cronSpec)
		got := []string{printSet(c.minutes), printSet(c.hours), printSet(c.doms), printSet(c.months), printSet(c.dows)}
		want := []string{tc.minutes, tc.hours, tc.doms, tc.month, tc.dows}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%q: fields %v; want %v", tc.expr, got, want)
		}
		if c.domAny != tc.domAny || c.dowAny != tc.dowAny || c.hoursWholeDay != tc.wholeDay {
			t.Errorf("%q: domAny %v dowAny %v wholeDay %v; want %v %v %v", tc.expr, c.domAny, c.dowAny, c.hoursWholeDay, tc.domAny, tc.dowAny, tc.wholeDay)
		}
	}
}

// printSet writes a set as runs: "0,6,12" or "1-31".
func printSet(set uint64) string {
	var parts []string
	vs := values(set)
	for i := 0; i < len(vs); {
		j := i
		for j+1 < len(vs) && vs[j+1] == vs[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, itoa(vs[i])+"-"+itoa(vs[j]))
		} else {
			parts = append(parts, itoa(vs[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func itoa(v int) string {
	if v < 10 {
		return string(rune('0' + v))
	}
	return itoa(v/10) + string(rune('0'+v%10))
}

func TestParseCron_Errors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ expr, want string }{
		{"", `cron "": want 5 fields (minute hour day-of-month month day-of-week), got 0`},
		{"* * * *", `cron "* * * *": want 5 fields (minute hour day-of-month month day-of-week), got 4`},
		{"0 0 3 * * *", `cron "0 0 3 * * *": want 5 fields (minute hour day-of-month month day-of-week), got 6; a seconds or year field is not supported`},
		{"@reboot", `cron "@reboot": @reboot is not supported (macros: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)`},
		{"@daily 3", `cron "@daily 3": @daily 3 is not supported (macros: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly)`},
		{"0 25 * * *", `cron "0 25 * * *": hour 25 out of range 0-23`},
		{"60 * * * *", `cron "60 * * * *": minute 60 out of range 0-59`},
		{"0 0 0 * *", `cron "0 0 0 * *": day-of-month 0 out of range 1-31`},
		{"0 0 32 * *", `cron "0 0 32 * *": day-of-month 32 out of range 1-31`},
		{"0 0 * 13 *", `cron "0 0 * 13 *": month 13 out of range 1-12`},
		{"0 0 * * 8", `cron "0 0 * * 8": day-of-week 8 out of range 0-7`},
		{"0 0 * * 1-9", `cron "0 0 * * 1-9": day-of-week 9 out of range 0-7`},
		{"0 5-2 * * *", `cron "0 5-2 * * *": hour "5-2": range runs backwards from 5 to 2`},
		{"0 0 * DEC-JAN *", `cron "0 0 * DEC-JAN *": month "DEC-JAN": range runs backwards from 12 to 1`},
		{"*/0 * * * *", `cron "*/0 * * * *": minute "*/0": step must be at least 1`},
		{"*/x * * * *", `cron "*/x * * * *": minute "*/x": step "x" is not a number`},
		{"*/ * * * *", `cron "*/ * * * *": minute "*/": step "" is not a number`},
		{"1/2/3 * * * *", `cron "1/2/3 * * * *": minute "1/2/3": step "2/3" is not a number`},
		{"1,,2 * * * *", `cron "1,,2 * * * *": minute: empty item in list`},
		{"1- * * * *", `cron "1- * * * *": minute "1-": a range needs a value on each side of -`},
		{"-1 * * * *", `cron "-1 * * * *": minute "-1": a range needs a value on each side of -`},
		{"1-2-3 * * * *", `cron "1-2-3 * * * *": minute "2-3": not a number`},
		{"+1 * * * *", `cron "+1 * * * *": minute "+1": not a number`},
		{"0 0 * * MONDAY", `cron "0 0 * * MONDAY": day-of-week "MONDAY": not a number or a name (SUN, MON, TUE, WED, THU, FRI, SAT)`},
		{"0 0 * JANUARY *", `cron "0 0 * JANUARY *": month "JANUARY": not a number or a name (JAN, FEB, MAR, APR, MAY, JUN, JUL, AUG, SEP, OCT, NOV, DEC)`},
		{"0 0 JAN * *", `cron "0 0 JAN * *": day-of-month "JAN": not a number`},
		{"0 0 L * *", `cron "0 0 L * *": day-of-month "L": L (last day) is not supported`},
		{"0 0 * * 5L", `cron "0 0 * * 5L": day-of-week "5L": L (last day) is not supported`},
		{"0 0 15W * *", `cron "0 0 15W * *": day-of-month "15W": W (nearest weekday) is not supported`},
		{"0 0 ? * MON", `cron "0 0 ? * MON": day-of-month "?": ? is not supported (use *)`},
		{"0 0 * * 5#3", `cron "0 0 * * 5#3": day-of-week "5#3": # (n-th weekday of the month) is not supported`},
	} {
		spec, err := ParseCron(tc.expr, time.UTC)
		if err == nil {
			t.Errorf("%q: accepted as %s", tc.expr, spec)
		} else if err.Error() != tc.want {
			t.Errorf("%q:\n got %s\nwant %s", tc.expr, err, tc.want)
		}
	}
}

func TestParseEvery_Errors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"0", `every "0": must be at least 1s`},
		{"0s", `every "0s": must be at least 1s`},
		{"-5m", `every "-5m": must be at least 1s`},
		{"500ms", `every "500ms": must be at least 1s`},
		{"1.5s", `every "1.5s": must be whole seconds`},
		{"1m0.5s", `every "1m0.5s": must be whole seconds`},
		{"15", `every "15": not a duration (e.g. 90s, 15m, 2h)`},
		{"daily", `every "daily": not a duration (e.g. 90s, 15m, 2h)`},
		{"", `every "": not a duration (e.g. 90s, 15m, 2h)`},
	} {
		spec, err := ParseEvery(tc.in)
		if err == nil {
			t.Errorf("%q: accepted as %s", tc.in, spec)
		} else if err.Error() != tc.want {
			t.Errorf("%q: %s; want %s", tc.in, err, tc.want)
		}
	}
}

func TestParseEvery_Valid(t *testing.T) {
	t.Parallel()
	for in, period := range map[string]int64{"1s": 1, "2000ms": 2, "1m30s": 90, "15m": 900, "24h": 86400} {
		spec, err := ParseEvery(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got := spec.(*everySpec).period; got != period {
			t.Errorf("%q: period %ds; want %ds", in, got, period)
		}
		if spec.String() != "every "+in {
			t.Errorf("%q: String %q", in, spec.String())
		}
	}
}

func TestParseCatchUp_Modes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]CatchUp{"": CatchUpLast, "none": CatchUpNone, "last": CatchUpLast, "all": CatchUpAll, " all ": CatchUpAll} {
		if got, err := ParseCatchUp(in); err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"sometimes", "ALL", "first"} {
		got, err := ParseCatchUp(in)
		if want := `catch-up mode "` + in + `": want none, last or all`; err == nil || err.Error() != want {
			t.Errorf("%q: %q, %v; want error %s", in, got, err, want)
		}
	}
}
