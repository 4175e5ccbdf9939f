package jsonwrite

import (
	"encoding/json"
	"testing"
	"time"
)

func TestString_AsMarshal(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "line\nfeed\r\ttab\b\f\x00\x1f\x7f",
		"<script>&amp;</script>", "é ü 😀", "\u2028\u2029", "bad \xff\xfe utf-8 \xe2\x82",
	} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := String(nil, s); string(got) != string(want) {
			t.Errorf("String(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestTime_AsMarshal(t *testing.T) {
	t.Parallel()
	for _, tm := range []time.Time{
		time.Date(2026, 12, 3, 17, 0, 1, 263_000_000, time.UTC),
		time.Date(1999, 1, 2, 3, 4, 5, 0, time.FixedZone("", 5*3600+30*60)),
		time.Date(2026, 6, 1, 0, 0, 0, 1, time.UTC),
		{},
	} {
		want, err := json.Marshal(tm)
		if err != nil {
			t.Fatal(err)
		}
		if got := Time(nil, tm); string(got) != string(want) {
			t.Errorf("Time(%v) = %s, want %s", tm, got, want)
		}
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "plain", "<&>", "\u2028", "\xff", "a\x00b", "\"\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := String([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("String(%q) = %s, want %s", s, got[1:], want)
		}
	})
}
