package daemon

import "testing"

func TestScanKeyLines(t *testing.T) {
	t.Parallel()
	doc := `top = 1
[a]
b = "x # not a comment"  # comment
"quoted.part" = 2
[[arr.items]]
n = 1
[[arr.items]]
n = 2
`
	lines := scanKeyLines([]byte(doc))
	for key, want := range map[string]int{
		"top": 1, "a": 2, "a.b": 3, "a.quoted.part": 4,
		"arr.items[0].n": 6, "arr.items[1].n": 8, "arr.items.n": 6,
		"arr.items[1].missing": 7, // falls back to its table
	} {
		if got := lines.line(key); got != want {
			t.Errorf("line(%q) = %d, want %d", key, got, want)
		}
	}
}
