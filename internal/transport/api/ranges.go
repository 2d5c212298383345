package api

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRanges is the most byte ranges one download request may ask for. A
// player asks for one; many small ranges make a multipart answer many times
// larger than the file (each part carries its own headers). A request for
// more is served whole, 200, which RFC 9110 §14.2 allows (a server may
// ignore Range): never larger than the file.
const maxRanges = 8

// serveFile is http.ServeContent (conditional requests, ranges, HEAD) with
// two corrections to its range handling: a Range asking for more than
// maxRanges ranges is ignored, and a suffix range of zero bytes ("-0"),
// which no representation can satisfy (RFC 9110 §14.1.1), is dropped — when
// nothing satisfiable is left the answer is 416 with "Content-Range: bytes
// */SIZE" instead of ServeContent's 206 with an impossible Content-Range.
func serveFile(w http.ResponseWriter, r *http.Request, modtime time.Time, f io.ReadSeeker, size int64) {
	if rh := r.Header.Get("Range"); rh != "" {
		specs, ok := rangeSpecs(rh)
		switch {
		case !ok:
			// Malformed: ServeContent answers 416 as before.
		case len(specs) > maxRanges:
			r.Header.Del("Range")
		default:
			kept := specs[:0]
			for _, s := range specs {
				if !zeroSuffix(s) {
					kept = append(kept, s)
				}
			}
			switch {
			case len(kept) == len(specs):
			case len(kept) > 0:
				r.Header.Set("Range", "bytes="+strings.Join(kept, ","))
			case r.Header.Get("If-Range") != "":
				// Whether Range applies at all depends on If-Range, which
				// ServeContent evaluates; ignoring it is always allowed.
				r.Header.Del("Range")
			default:
				w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
				http.Error(w, "invalid range: a suffix of zero bytes selects nothing", http.StatusRequestedRangeNotSatisfiable)
				return
			}
		}
	}
	http.ServeContent(w, r, "", modtime, f)
}

// rangeSpecs splits a "bytes=" Range header into its trimmed range specs;
// false for another unit or an empty spec.
func rangeSpecs(h string) ([]string, bool) {
	rest, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return nil, false
	}
	specs := strings.Split(rest, ",")
	for i, s := range specs {
		specs[i] = strings.TrimSpace(s)
		if specs[i] == "" {
			return nil, false
		}
	}
	return specs, true
}

// zeroSuffix reports whether spec is a suffix range of length zero ("-0").
func zeroSuffix(spec string) bool {
	n, ok := strings.CutPrefix(spec, "-")
	if !ok {
		return false
	}
	v, err := strconv.ParseInt(n, 10, 64)
	return err == nil && v == 0
}
