package jsonscan

import "strings"

// Payloads the size of a submitted job, for the benchmarks and the
// allocation test.
var (
	// stringPayload is one long string member, the shape most payloads
	// take, 1 KiB in all.
	stringPayload = []byte(`{"data":"` + strings.Repeat("abcdefghijklmnopqrstuvwxyz", 39)[:1013] + `"}`)

	// mixedPayload exercises every token kind: numbers, literals, arrays,
	// nested objects and escapes.
	mixedPayload = []byte(`{
  "kind": "render",
  "id": "01J9Z3Q6V7W8X9Y0A1B2C3D4E5",
  "priority": -3,
  "timeout": 1.5e2,
  "retry": {"max": 5, "backoff": [0.25, 0.5, 1, 2, 4], "jitter": true},
  "labels": {"team": "graphics", "env": "prod", "note": "line one\nline \"two\"\t\u00e9"},
  "inputs": [
    {"path": "/srv/assets/scene-001.kiln", "size": 1048576, "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
    {"path": "/srv/assets/scene-002.kiln", "size": 2097152, "sha256": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"}
  ],
  "frames": [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987],
  "matrix": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
  "options": {"denoise": false, "samples": 256, "seed": null, "gamma": 2.2, "exposure": -0.75E-1},
  "callback": "https:\/\/hooks.example.com\/kiln\/done?job=render&token=\u0041\u0042\u0043",
  "comment": "rendered for the \"spring\" campaign; see ticket #4711 \u2014 ok"
}`)
)
