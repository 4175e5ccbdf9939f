package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The corpus is made of real photographs: the camera pictures among the KDE
// wallpapers (Debian's plasma-workspace-wallpapers), not its rendered art.
// Each 12 MP mosaic joins four native-resolution 2000x1500 crops from four
// different photographs (nothing is scaled up), with crop positions that
// move from one mosaic to the next so that no two mosaics are alike. Each is
// encoded the way a camera does (4:2:0, Q92) and as 4:4:4 Q90; the
// 2560x1600 photographs are also used as they ship.
var wallpapers = "/usr/share/wallpapers"

// photographs are the wallpapers that are photographs, with the largest
// size they ship in.
var photographs = []string{
	"BytheWater/contents/images/2560x1600.jpg",
	"ColdRipple/contents/images/2560x1600.jpg",
	"ColorfulCups/contents/images/2560x1600.jpg",
	"DarkestHour/contents/images/2560x1600.jpg",
	"EveningGlow/contents/images/2560x1600.jpg",
	"FallenLeaf/contents/images/2560x1600.jpg",
	"Grey/contents/images/2560x1600.jpg",
	"Kite/contents/images/2560x1600.jpg",
	"OneStandsOut/contents/images/2560x1600.jpg",
	"Path/contents/images/2560x1600.jpg",
	"summer_1am/contents/images/2560x1600.jpg",
}

const (
	tileW, tileH = 2000, 1500 // four of them make 4000x3000, 12 MP
	corpusStamp  = "corpus-v2"
)

// corpus is the set of pictures the benchmark runs on.
type corpus struct {
	Camera    []string // 4:2:0 Q92 mosaics
	Full      []string // 4:4:4 Q90 mosaics, the same pictures
	Originals []string // the 2560x1600 photographs as shipped
}

// Mosaics are both encodings of every mosaic, camera-like first.
func (c corpus) Mosaics() []string {
	var all []string
	for i := range c.Camera {
		all = append(all, c.Camera[i], c.Full[i])
	}
	return all
}

// buildCorpus makes n mosaics under dir (once: a stamp file marks a
// complete corpus) with the libvips CLI.
func buildCorpus(dir string, n int) (corpus, error) {
	var c corpus
	for _, p := range photographs {
		path := filepath.Join(wallpapers, p)
		if _, err := os.Stat(path); err != nil {
			return c, fmt.Errorf("photograph %s: %w (apt-get install plasma-workspace-wallpapers)", path, err)
		}
		c.Originals = append(c.Originals, path)
	}
	for k := range n {
		c.Camera = append(c.Camera, filepath.Join(dir, fmt.Sprintf("mosaic%02d-420-q92.jpg", k)))
		c.Full = append(c.Full, filepath.Join(dir, fmt.Sprintf("mosaic%02d-444-q90.jpg", k)))
	}
	stamp := filepath.Join(dir, fmt.Sprintf("%s-%d", corpusStamp, n))
	if _, err := os.Stat(stamp); err == nil {
		return c, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return c, err
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return c, err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(os.Stderr, "building the corpus in %s (once)\n", dir)
	for k := range n {
		var tiles []string
		for i := range 4 {
			src := filepath.Join(wallpapers, photographs[(k+3*i)%len(photographs)])
			w, h, err := size(src)
			if err != nil {
				return c, err
			}
			// Crop positions walk across the photograph with k, each tile
			// at its own pace.
			left := (k*97 + i*211) % (w - tileW + 1)
			top := (k*13 + i*29) % (h - tileH + 1)
			tile := filepath.Join(tmp, fmt.Sprintf("t%d.v", i))
			if err := run("vips", "extract_area", src, tile, fmt.Sprint(left), fmt.Sprint(top), fmt.Sprint(tileW), fmt.Sprint(tileH)); err != nil {
				return c, err
			}
			tiles = append(tiles, tile)
		}
		mosaic := filepath.Join(tmp, "mosaic.v")
		if err := run("vips", "arrayjoin", strings.Join(tiles, " "), mosaic, "--across", "2"); err != nil {
			return c, err
		}
		if err := run("vips", "jpegsave", mosaic, c.Camera[k], "--Q", "92", "--subsample-mode", "on", "--strip"); err != nil {
			return c, err
		}
		if err := run("vips", "jpegsave", mosaic, c.Full[k], "--Q", "90", "--subsample-mode", "off", "--strip"); err != nil {
			return c, err
		}
	}
	return c, os.WriteFile(stamp, nil, 0o644)
}

func size(path string) (w, h int, err error) {
	out, err := exec.Command("vipsheader", "-f", "width", path).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("vipsheader %s: %w", path, err)
	}
	fmt.Sscan(string(out), &w)
	out, err = exec.Command("vipsheader", "-f", "height", path).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("vipsheader %s: %w", path, err)
	}
	fmt.Sscan(string(out), &h)
	return w, h, nil
}

func run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return nil
}
