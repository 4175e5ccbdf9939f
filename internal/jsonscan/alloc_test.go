package jsonscan

import "testing"

// The scanner exists to take allocation off the submit path; any
// allocation it makes defeats it.
func TestNoAllocation(t *testing.T) {
	deep := []byte(nested(10000, "[", "", "]"))
	for _, tc := range []struct {
		name string
		scan func()
	}{
		{"Value on a string payload", func() { Value(stringPayload, 0) }},
		{"Value on a mixed payload", func() { Value(mixedPayload, 0) }},
		{"Value at the depth limit", func() { Value(deep, 0) }},
		{"Value on a refused text", func() { Value([]byte(`{"a":[1,2,}`), 0) }},
		{"PlainString", func() { PlainString(stringPayload, 8) }},
	} {
		if n := testing.AllocsPerRun(100, tc.scan); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tc.name, n)
		}
	}
}
