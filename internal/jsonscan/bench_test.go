package jsonscan

import (
	"encoding/json"
	"testing"
)

// BenchmarkValidate compares a whole-text check by Value with json.Valid,
// the pass it replaces, on payloads the size of a submitted job.
func BenchmarkValidate(b *testing.B) {
	for _, payload := range []struct {
		name string
		text []byte
	}{
		{"string", stringPayload},
		{"mixed", mixedPayload},
	} {
		if !json.Valid(payload.text) {
			b.Fatalf("%s payload is not valid JSON", payload.name)
		}
		b.Run(payload.name+"/jsonscan", func(b *testing.B) {
			b.SetBytes(int64(len(payload.text)))
			for b.Loop() {
				if !validText(payload.text) {
					b.Fatal("Value refused a valid payload")
				}
			}
		})
		b.Run(payload.name+"/json.Valid", func(b *testing.B) {
			b.SetBytes(int64(len(payload.text)))
			for b.Loop() {
				if !json.Valid(payload.text) {
					b.Fatal("json.Valid refused a valid payload")
				}
			}
		})
	}
}

func BenchmarkPlainString(b *testing.B) {
	const at = len(`{"data":`)
	b.SetBytes(int64(len(stringPayload) - at - 1))
	for b.Loop() {
		if _, _, ok := PlainString(stringPayload, at); !ok {
			b.Fatal("PlainString refused the payload's string")
		}
	}
}
