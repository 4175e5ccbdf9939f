package image

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"testing"

	"kiln/worker/image/vips"
)

// What an output carries is read from its own structure: JPEG markers, PNG
// chunks, WebP RIFF chunks, and the boxes of an AVIF (HEIF) file.

// embedded is the metadata found in an output.
type embedded struct {
	ICC, EXIF, XMP bool
}

func (e embedded) String() string { return fmt.Sprintf("ICC=%v EXIF=%v XMP=%v", e.ICC, e.EXIF, e.XMP) }

const xmpNamespace = "http://ns.adobe.com/xap/1.0/"

// jpegMetadata walks a JPEG's marker segments up to the start of scan.
func jpegMetadata(t *testing.T, b []byte) embedded {
	t.Helper()
	var e embedded
	if len(b) < 4 || b[0] != 0xff || b[1] != 0xd8 {
		t.Fatal("not a JPEG")
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xff {
			t.Fatalf("JPEG marker expected at %d", i)
		}
		marker := b[i+1]
		if marker == 0xda || marker == 0xd9 { // start of scan, end of image
			break
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		seg := b[i+4 : min(len(b), i+2+n)]
		switch {
		case marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")):
			e.EXIF = true
		case marker == 0xe1 && bytes.HasPrefix(seg, []byte(xmpNamespace)):
			e.XMP = true
		case marker == 0xe2 && bytes.HasPrefix(seg, []byte("ICC_PROFILE\x00")):
			e.ICC = true
		}
		i += 2 + n
	}
	return e
}

// pngMetadata walks a PNG's chunks.
func pngMetadata(t *testing.T, b []byte) embedded {
	t.Helper()
	var e embedded
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatal("not a PNG")
	}
	for i := 8; i+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		data := b[i+8 : min(len(b), i+8+n)]
		switch typ {
		case "iCCP":
			e.ICC = true
		case "eXIf":
			e.EXIF = true
		case "iTXt", "tEXt", "zTXt":
			if bytes.HasPrefix(data, []byte("XML:com.adobe.xmp\x00")) {
				e.XMP = true
			}
			if bytes.HasPrefix(data, []byte("Raw profile type exif\x00")) {
				e.EXIF = true
			}
		}
		i += 12 + n
	}
	return e
}

// webpMetadata walks a WebP's RIFF chunks.
func webpMetadata(t *testing.T, b []byte) embedded {
	t.Helper()
	var e embedded
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		t.Fatal("not a WebP")
	}
	for i := 12; i+8 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		switch string(b[i : i+4]) {
		case "ICCP":
			e.ICC = true
		case "EXIF":
			e.EXIF = true
		case "XMP ":
			e.XMP = true
		}
		i += 8 + n + n&1
	}
	return e
}

// avifMetadata walks an AVIF's ISO BMFF boxes: an ICC profile is a colr
// box of type prof (or rICC); EXIF and XMP are items of type Exif and mime
// (application/rdf+xml) in the meta box's item list.
func avifMetadata(t *testing.T, b []byte) embedded {
	t.Helper()
	var e embedded
	var walk func(b []byte)
	walk = func(b []byte) {
		for i := 0; i+8 <= len(b); {
			size := int(binary.BigEndian.Uint32(b[i:]))
			typ := string(b[i+4 : i+8])
			head := 8
			if size == 1 && i+16 <= len(b) {
				size, head = int(binary.BigEndian.Uint64(b[i+8:])), 16
			} else if size == 0 {
				size = len(b) - i
			}
			if size < head || i+size > len(b) {
				t.Fatalf("AVIF box %q at %d overruns the file", typ, i)
			}
			body := b[i+head : i+size]
			switch typ {
			case "meta": // full box: version and flags, then boxes
				walk(body[4:])
			case "iprp", "ipco":
				walk(body)
			case "iinf":
				if body[0] == 0 {
					walk(body[6:]) // 16-bit entry count
				} else {
					walk(body[8:])
				}
			case "infe":
				if body[0] >= 2 && len(body) >= 12 {
					off := 8 // version+flags, item ID, protection index
					if body[0] == 3 {
						off = 10
					}
					switch string(body[off : off+4]) {
					case "Exif":
						e.EXIF = true
					case "mime":
						if bytes.Contains(body, []byte("application/rdf+xml")) {
							e.XMP = true
						}
					}
				}
			case "colr":
				if c := string(body[:4]); c == "prof" || c == "rICC" {
					e.ICC = true
				}
			}
			i += size
		}
	}
	walk(b)
	return e
}

var metadataReaders = map[string]func(*testing.T, []byte) embedded{
	"jpeg": jpegMetadata, "png": pngMetadata, "webp": webpMetadata, "avif": avifMetadata,
}

// withSegment inserts a JPEG marker segment right after the SOI marker.
func withSegment(jpg []byte, marker byte, payload []byte) []byte {
	seg := []byte{0xff, marker, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// srgbProfile is the sRGB ICC profile Debian's colord-data ships.
const srgbProfile = "/usr/share/color/icc/colord/sRGB.icc"

// cameraJPEG is a JPEG as cameras and phones write them: EXIF, an ICC
// profile and XMP.
func cameraJPEG(t *testing.T) []byte {
	t.Helper()
	icc, err := os.ReadFile(srgbProfile)
	if err != nil {
		t.Fatalf("%v (apt-get install colord-data)", err)
	}
	jpg := encodeJPEG(t, gradient(300, 200))
	jpg = withSegment(jpg, 0xe1, []byte(xmpNamespace+"\x00<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"/></x:xmpmeta>"))
	jpg = withSegment(jpg, 0xe2, append([]byte("ICC_PROFILE\x00\x01\x01"), icc...))
	return withExif(jpg, 1)
}

// TestOutputsCarryNoMetadataUnlessKept checks every output format, read
// back marker by marker or chunk by chunk: without keep_metadata nothing
// of the source's EXIF, XMP or ICC profile is left; with it, the EXIF and
// the sRGB profile the pixels are now in are embedded (and XMP where the
// format's saver writes it).
func TestOutputsCarryNoMetadataUnlessKept(t *testing.T) {
	t.Parallel()
	var variants []Variant
	for _, f := range Formats {
		variants = append(variants,
			Variant{Name: f + "-plain", Width: 100, Format: f},
			Variant{Name: f + "-kept", Width: 100, Format: f, KeepMetadata: true})
	}
	b := setup(t, variants...)
	in := write(t, b.dir, "camera.jpg", cameraJPEG(t))
	if e := jpegMetadata(t, cameraJPEG(t)); e != (embedded{true, true, true}) {
		t.Fatalf("test input carries %v, want all three", e)
	}
	out := b.mustRun(t, in)
	// What the savers embed when asked to keep metadata: the same with
	// libvips 8.14 and 8.16.
	keptWant := map[string]embedded{
		"jpeg": {ICC: true, EXIF: true, XMP: true},
		"png":  {ICC: true, EXIF: true, XMP: true},
		"webp": {ICC: true, EXIF: true, XMP: true},
		"avif": {ICC: true, EXIF: true, XMP: true},
	}
	// This process reads the outputs back with libvips, as a worker would.
	if err := vips.Start(false); err != nil {
		t.Fatal(err)
	}
	for _, f := range Formats {
		read := metadataReaders[f]
		plain, err := os.ReadFile(out[f+"-plain"].Path)
		if err != nil {
			t.Fatal(err)
		}
		if e := read(t, plain); e != (embedded{}) {
			t.Errorf("%s without keep_metadata carries %v", f, e)
		}
		if h, err := vips.ReadHeader(plain); err != nil || h.Width != 100 {
			t.Errorf("%s without keep_metadata does not read back as a 100-wide picture: %+v, %v", f, h, err)
		}
		kept, err := os.ReadFile(out[f+"-kept"].Path)
		if err != nil {
			t.Fatal(err)
		}
		if e := read(t, kept); e != keptWant[f] {
			t.Errorf("%s with keep_metadata carries %v, want %v", f, e, keptWant[f])
		}
	}
}
