// Package packaging holds what the .deb and .rpm are made of; its test
// keeps kiln.toml(5) in step with the config kilnd reads.
package packaging

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"kiln/daemon"
	"kiln/worker"
	"kiln/worker/command"
	"kiln/worker/image"
	"kiln/worker/webhook"
)

// plugins are the plugins kilnd's main registers: their tables are
// kiln.toml's as much as the daemon's are.
var plugins = []worker.Plugin{image.Plugin(), webhook.Plugin(), command.Plugin()}

// tomlKeys lists the toml keys of t and of the structs it holds, walking
// into maps and slices of structs.
func tomlKeys(t reflect.Type, into map[string]bool) {
	for t.Kind() == reflect.Map || t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if key == "" || key == "-" {
			continue
		}
		into[key] = true
		tomlKeys(f.Type, into)
	}
}

func TestManPageNamesEveryConfigKey(t *testing.T) {
	page, err := os.ReadFile("man/kiln.toml.5.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	tomlKeys(reflect.TypeOf(daemon.Config{}), keys)
	for _, p := range plugins {
		tomlKeys(reflect.TypeOf(p.NewConfig()), keys)
	}
	if len(keys) < 30 {
		t.Fatalf("found only %d config keys: %v", len(keys), keys)
	}
	for key := range keys {
		if !strings.Contains(string(page), "**"+key+"**") && !strings.Contains(string(page), "["+key) && !strings.Contains(string(page), "."+key+"]") {
			t.Errorf("kiln.toml(5) does not describe the key %q", key)
		}
	}
}
