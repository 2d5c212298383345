package site

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"strings"
)

// The console's app icon, drawn here rather than kept as binary files: an
// indigo-to-violet rounded square with a white speech bubble. PWA installs
// want 192 and 512 pixel PNGs; the favicon is the same at 32.
var iconSizes = map[string]int{"192.png": 192, "512.png": 512, "32.png": 32, "maskable-512.png": 512}

func renderIcons() map[string][]byte {
	out := make(map[string][]byte, len(iconSizes))
	for name, n := range iconSizes {
		var buf bytes.Buffer
		png.Encode(&buf, drawIcon(n, strings.HasPrefix(name, "maskable")))
		out[name] = buf.Bytes()
	}
	return out
}

func (s *Site) icon(w http.ResponseWriter, r *http.Request) {
	size := r.PathValue("size")
	if size == "" {
		size = "32.png"
	}
	b, ok := s.icons[size]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "public, max-age=86400")
	w.Write(b)
}

// drawIcon renders the icon at n×n by signed distance fields, one sample
// per pixel with a one-pixel soft edge (anti-aliasing). A maskable icon
// fills the square (the platform rounds it) and keeps the bubble in the
// middle 80%.
func drawIcon(n int, maskable bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	s := float64(n)
	from, to := [3]float64{79, 70, 229}, [3]float64{147, 51, 234} // #4f46e5 → #9333ea
	scale := 1.0
	if maskable {
		scale = 0.8
	}
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			px, py := (float64(x)+0.5)/s, (float64(y)+0.5)/s // 0..1
			// Background: a rounded square (or the full square when maskable).
			bg := 1.0
			if !maskable {
				bg = cover(roundedBox(px-0.5, py-0.5, 0.5, 0.5, 0.22), s)
			}
			t := (px + py) / 2
			var c [3]float64
			for i := range c {
				c[i] = from[i] + (to[i]-from[i])*t
			}
			// The bubble, centred, scaled for maskable.
			bx, by := (px-0.5)/scale, (py-0.5)/scale
			bubble := math.Min(roundedBox(bx, by+0.04, 0.30, 0.22, 0.12), tail(bx, by))
			w := cover(bubble, s/scale)
			// Three dots cut out of the bubble.
			for _, dx := range []float64{-0.13, 0, 0.13} {
				d := math.Hypot(bx-dx, by+0.04) - 0.045
				w *= 1 - cover(d, s/scale)
			}
			r := c[0]*(1-w) + 255*w
			g := c[1]*(1-w) + 255*w
			b := c[2]*(1-w) + 255*w
			img.SetNRGBA(x, y, color.NRGBA{uint8(r), uint8(g), uint8(b), uint8(255 * bg)})
		}
	}
	return img
}

// roundedBox is the signed distance to a box of half-size (hx, hy) with
// corner radius rad, centred at the origin.
func roundedBox(x, y, hx, hy, rad float64) float64 {
	qx, qy := math.Abs(x)-hx+rad, math.Abs(y)-hy+rad
	return math.Hypot(math.Max(qx, 0), math.Max(qy, 0)) + math.Min(math.Max(qx, qy), 0) - rad
}

// tail is the bubble's tail: a triangle at its lower left.
func tail(x, y float64) float64 {
	// Inside when above the line from (-0.22, 0.36) to (-0.02, 0.2) and in the band.
	if y < 0.18 || y > 0.36 || x < -0.24 || x > 0.02 {
		return 1
	}
	edge := (y - 0.36) - (x+0.22)*(-0.16/0.20)
	return edge * 3
}

// cover turns a signed distance (in icon units) into pixel coverage.
func cover(d, size float64) float64 {
	return math.Max(0, math.Min(1, 0.5-d*size))
}
