package vips

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// libvips starts once per process, so each case of these tests runs in a
// process of its own: this test binary again, with the case named in
// moduleCaseEnv, printing the libvips modules it has mapped at each step.
const moduleCaseEnv = "KILN_VIPS_MODULE_CASE"

func TestMain(m *testing.M) {
	if c := os.Getenv(moduleCaseEnv); c != "" {
		if err := runModuleCase(c); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// mappedModules lists the libvips modules this process has mapped, by
// file name, and the directory they are in.
func mappedModules() (names []string, dir string) {
	maps, _ := os.ReadFile("/proc/self/maps")
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		path := f[5]
		if strings.Contains(path, "/vips-modules-") && !slices.Contains(names, filepath.Base(path)) {
			names = append(names, filepath.Base(path))
			dir = filepath.Dir(path)
		}
	}
	slices.Sort(names)
	return names, dir
}

func runModuleCase(c string) error {
	report := func(step string) {
		names, _ := mappedModules()
		fmt.Printf("%s: %s\n", step, strings.Join(names, " "))
	}
	switch c {
	case "blocked":
		if err := Start(false); err != nil {
			return err
		}
		report("started")
		img, err := Blank(64, 48)
		if err != nil {
			return err
		}
		defer img.Close()
		enc, err := img.Encode(EncodeOptions{Format: "avif", Quality: 50})
		if err != nil {
			return fmt.Errorf("encode AVIF: %w", err)
		}
		defer enc.Free()
		report("avif written")
		h, err := ReadHeader(enc.Bytes())
		if err != nil {
			return fmt.Errorf("read the AVIF back: %w", err)
		}
		fmt.Printf("header: %s %dx%d\n", h.Loader, h.Width, h.Height)
	case "allowed":
		if err := Start(true); err != nil {
			return err
		}
		report("started")
		_, dir := mappedModules()
		fmt.Printf("dir: %s\n", dir)
	case "blank-then-allowed":
		img, err := Blank(8, 8)
		if err != nil {
			return err
		}
		img.Close()
		report("blank")
		if err := Start(true); err != nil {
			return err
		}
		report("started")
	default:
		return fmt.Errorf("unknown case %q", c)
	}
	return nil
}

// moduleCase runs a case in a process of its own and returns its report,
// step by step.
func moduleCase(t *testing.T, c string) map[string]string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), moduleCaseEnv+"="+c)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("case %s: %v: %s", c, err, out.String())
	}
	steps := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		step, rest, _ := strings.Cut(line, ":")
		steps[step] = strings.TrimSpace(rest)
	}
	return steps
}

// installedModules are the modules this host's libvips loads as it
// starts in a process that allows every loader, and their directory.
func installedModules(t *testing.T) ([]string, string) {
	t.Helper()
	steps := moduleCase(t, "allowed")
	all := strings.Fields(steps["started"])
	if len(all) == 0 {
		t.Skip("this libvips loads no modules (built without them)")
	}
	return all, steps["dir"]
}

// A process that blocks untrusted loaders starts libvips with none of its
// modules (their loaders are untrusted, or not needed yet), and loads
// vips-heif only when it writes an AVIF, which it can then read back.
func TestBlockedLoadersLeaveModulesOutUntilNeeded(t *testing.T) {
	all, _ := installedModules(t)
	if !slices.Contains(all, "vips-heif.so") {
		t.Skipf("this libvips has no vips-heif module (it has %v)", all)
	}
	steps := moduleCase(t, "blocked")
	if got := steps["started"]; got != "" {
		t.Errorf("modules mapped once started with untrusted loaders blocked: %s, want none", got)
	}
	if got := steps["avif written"]; got != "vips-heif.so" {
		t.Errorf("modules mapped after writing an AVIF: %q, want only vips-heif.so", got)
	}
	if got := steps["header"]; !strings.HasPrefix(strings.ToLower(got), "vipsforeignloadheif") || !strings.HasSuffix(got, " 64x48") {
		t.Errorf("the AVIF read back: %q, want libvips' HEIF loader and 64x48", got)
	}
}

// A process that allows untrusted loaders has every module, also when an
// encoder was tried (which starts libvips without them) before it set its
// policy.
func TestAllowedLoadersHaveEveryModule(t *testing.T) {
	all, dir := installedModules(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.so"))
	var want []string
	for _, f := range files {
		want = append(want, filepath.Base(f))
	}
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Errorf("modules mapped with untrusted loaders allowed: %v, want every one in %s: %v", all, dir, want)
	}
	steps := moduleCase(t, "blank-then-allowed")
	if got := steps["blank"]; got != "" {
		t.Errorf("modules mapped after trying an encoder: %s, want none", got)
	}
	if got := strings.Fields(steps["started"]); !slices.Equal(got, all) {
		t.Errorf("modules mapped once allowed after trying an encoder: %v, want %v", got, all)
	}
}
