package export

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2EHTMLChromium renders the HTML export in headless Chromium (Debian's
// `chromium` package): the DOM after load holds the text, no injected script
// ran, and screenshots are not blank, with a light page by default and a
// dark one when the browser prefers dark. Run with IMPETUS_E2E=1 (make e2e).
func TestE2EHTMLChromium(t *testing.T) {
	if os.Getenv("IMPETUS_E2E") != "1" {
		t.Skip("set IMPETUS_E2E=1 (make e2e) to render the HTML export in headless Chromium")
	}
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Fatal("no chromium on PATH: install it (Debian: apt-get update && apt-get install -y chromium)")
	}

	c := fixture()
	// Payloads that would leave a mark in the DOM if any of them ran.
	c.Messages = append(c.Messages,
		Message{ID: "p1", ParentID: "m6", Role: "user", CreatedAt: at(20),
			Content: `<img src=x onerror="document.body.setAttribute('data-pwned','img')"> and <script>document.body.setAttribute('data-pwned','script')</script>`},
		Message{ID: "p2", ParentID: "p1", Role: "assistant", CreatedAt: at(21),
			Content: "\"><svg onload=\"document.body.setAttribute('data-pwned','svg')\">\n\nVisible end marker: ZEBRA-42"},
	)
	dir := t.TempDir()
	page := filepath.Join(dir, "page.html")
	var b bytes.Buffer
	if err := Write(&b, HTML, []Conversation{c}, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "file://" + page

	dom := chromium(t, bin, dir, "dom", "--dump-dom", url)
	for _, want := range []string{"Sorting in Go", "SliceStable", "alert(1)", "onerror=alert(2)", "ZEBRA-42", "Branch 2"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	// The payload text is on the page (escaped); the attribute a script
	// would have set is not.
	if i := strings.Index(dom, `data-pwned="`); i >= 0 {
		t.Errorf("an injected script ran: %s", dom[i:min(len(dom), i+40)])
	}

	light := screenshot(t, bin, dir, "light", url)
	dark := screenshot(t, bin, dir, "dark", url, "--force-dark-mode", "--blink-settings=preferredColorScheme=0")
	for name, img := range map[string]image.Image{"light": light, "dark": dark} {
		if n := distinctColors(img); n < 8 {
			t.Errorf("%s screenshot is blank (%d colours)", name, n)
		}
		if f := inkFraction(img); f < 0.01 {
			t.Errorf("%s screenshot shows almost no text (%.4f of pixels differ from the background)", name, f)
		}
	}
	if l := luma(light, 2, 2); l < 200 {
		t.Errorf("light page background luma %d, want a light page", l)
	}
	if l := luma(dark, 2, 2); l > 60 {
		t.Errorf("dark page background luma %d, want a dark page (prefers-color-scheme: dark)", l)
	}
}

func chromium(t *testing.T, bin, dir, profile string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "profile-"+profile), "--window-size=1000,1400"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", bin, args, err, errb.String())
	}
	return out.String()
}

func screenshot(t *testing.T, bin, dir, name, url string, extra ...string) image.Image {
	t.Helper()
	path := filepath.Join(dir, name+".png")
	chromium(t, bin, dir, name, append(extra, "--screenshot="+path, url)...)
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	if os.Getenv("IMPETUS_E2E_KEEP") != "" { // for looking at it by hand
		data, _ := os.ReadFile(path)
		os.WriteFile(filepath.Join(os.Getenv("IMPETUS_E2E_KEEP"), name+".png"), data, 0o644)
	}
	return img
}

func distinctColors(img image.Image) int {
	seen := map[[3]uint32]bool{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y += 3 {
		for x := r.Min.X; x < r.Max.X; x += 3 {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			seen[[3]uint32{cr >> 8, cg >> 8, cb >> 8}] = true
		}
	}
	return len(seen)
}

// inkFraction is the share of pixels that differ clearly from the
// top-left (background) pixel.
func inkFraction(img image.Image) float64 {
	r := img.Bounds()
	bg := luma(img, r.Min.X+2, r.Min.Y+2)
	var ink, all int
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			all++
			if d := luma(img, x, y) - bg; d > 60 || d < -60 {
				ink++
			}
		}
	}
	return float64(ink) / float64(all)
}

func luma(img image.Image, x, y int) int {
	r, g, b, _ := img.At(x, y).RGBA()
	return int((299*(r>>8) + 587*(g>>8) + 114*(b>>8)) / 1000)
}
