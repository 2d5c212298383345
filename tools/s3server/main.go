// Command s3server is the S3-compatible server Parley's tests run against
// (internal/s3test): gofakes3 (MIT) with its in-memory backend, listening
// on loopback. It is a test fixture, not storage: everything is lost when
// it stops, and it does not check request signatures (any key pair is
// accepted). It lives in a module of its own so Parley's go.mod does not
// carry gofakes3 and the AWS SDK it depends on; scripts/deps-s3.sh builds
// and starts it. Why not a real S3 server: MinIO's server is AGPL, and
// SeaweedFS's weed did not build from the module proxy within ten minutes
// on the test machine (docs/operations.md, "Blob storage").
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9333", "address to listen on (keep it on loopback)")
	verbose := flag.Bool("v", false, "log every request")
	flag.Parse()
	faker := gofakes3.New(s3mem.New(), gofakes3.WithoutVersioning(), gofakes3.WithTimeSkewLimit(0))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("s3server: S3 API on http://%s (gofakes3, in memory)", ln.Addr())
	h := decodeStreaming(faker.Server())
	if *verbose {
		h = logRequests(h)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}

func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s len=%d sha=%s decoded=%s", r.Method, r.URL, r.ContentLength,
			r.Header.Get("X-Amz-Content-Sha256"), r.Header.Get("X-Amz-Decoded-Content-Length"))
		next.ServeHTTP(w, r)
	})
}

// decodeStreaming undoes the aws-chunked framing of streaming-signed PUTs
// (what S3 clients send over plain HTTP) before gofakes3 sees them:
// gofakes3 1.2.0 decodes it for a plain PutObject but stores the framing
// of a multipart part as data, and refuses an empty streaming PUT. The
// body is handed on with its decoded length, as unsigned payload.
func decodeStreaming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sha := r.Header.Get("X-Amz-Content-Sha256")
		if r.Method != http.MethodPut || !strings.HasPrefix(sha, "STREAMING-") {
			next.ServeHTTP(w, r)
			return
		}
		n, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "streaming PUT without X-Amz-Decoded-Content-Length", http.StatusBadRequest)
			return
		}
		body, err := unchunk(bufio.NewReader(r.Body), n)
		if err != nil {
			http.Error(w, "aws-chunked body: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = n
		r.Header.Set("Content-Length", strconv.FormatInt(n, 10))
		r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		r.Header.Del("X-Amz-Decoded-Content-Length")
		r.Header.Del("Content-Encoding")
		next.ServeHTTP(w, r)
	})
}

// unchunk reads "<hex size>[;chunk-signature=…]\r\n<data>\r\n" chunks up
// to the empty one (trailers after it are ignored) and checks the total.
func unchunk(br *bufio.Reader, want int64) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(int(want))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		hexSize, _, _ := strings.Cut(strings.TrimSpace(line), ";")
		size, err := strconv.ParseInt(hexSize, 16, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("bad chunk header %q", line)
		}
		if size == 0 {
			break
		}
		if _, err := io.CopyN(&out, br, size); err != nil {
			return nil, err
		}
		if crlf, err := br.ReadString('\n'); err != nil || strings.TrimSpace(crlf) != "" {
			return nil, errors.New("chunk not followed by CRLF")
		}
	}
	if int64(out.Len()) != want {
		return nil, fmt.Errorf("decoded %d bytes, header says %d", out.Len(), want)
	}
	return out.Bytes(), nil
}
