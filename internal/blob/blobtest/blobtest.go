// Package blobtest is the conformance suite every blob.Store passes: the
// disk store and the S3 one run the same tests, so they behave the same.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sort"
	"sync"
	"testing"

	"github.com/parley-chat/parley/internal/blob"
)

// Run runs the suite. newStore returns an empty store of its own for each
// subtest (closed by the suite); a second call within one subtest must
// return another handle on the same blobs (a second node).
func Run(t *testing.T, newStore func(t *testing.T) (open func() blob.Store)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func() blob.Store)
	}{
		{"PutGet", testPutGet},
		{"Empty", testEmpty},
		{"Large", testLarge},
		{"Limit", testLimit},
		{"Abort", testAbort},
		{"Deduplicates", testDeduplicates},
		{"Concurrent", testConcurrent},
		{"Seek", testSeek},
		{"NotFound", testNotFound},
		{"InvalidKey", testInvalidKey},
		{"Delete", testDelete},
		{"List", testList},
		{"SharedByTwoHandles", testShared},
		{"CancelledCommit", testCancelledCommit},
		{"Copy", testCopy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			open := newStore(t)
			tc.fn(t, func() blob.Store {
				s := open()
				t.Cleanup(func() { s.Close() })
				return s
			})
		})
	}
}

func ctx() context.Context { return context.Background() }

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// put stores b, written in pieces so implementations see several writes.
func put(t *testing.T, s blob.Store, b []byte) blob.Info {
	t.Helper()
	up, err := s.Create(ctx(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Abort()
	for rest := b; len(rest) > 0; {
		n := min(len(rest), 7919)
		if _, err := up.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	info, err := up.Commit(ctx())
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return info
}

// started is an upload of at most limit bytes with data written into it,
// not committed (aborted when t ends).
func started(t *testing.T, s blob.Store, limit int64, data []byte) blob.Upload {
	t.Helper()
	up, err := s.Create(ctx(), limit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Abort)
	if _, err := up.Write(data); err != nil {
		t.Fatalf("writing %d bytes (limit %d): %v", len(data), limit, err)
	}
	return up
}

func read(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	o, err := s.Open(ctx(), key)
	if err != nil {
		t.Fatalf("Open %s: %v", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	if o.Info().Size != int64(len(b)) || o.Info().Key != key {
		t.Fatalf("Open's Info = %+v, read %d bytes of %s", o.Info(), len(b), key)
	}
	return b
}

func testPutGet(t *testing.T, open func() blob.Store) {
	s := open()
	data := random(t, 100_000)
	info := put(t, s, data)
	if info.Key != hashOf(data) || info.Size != int64(len(data)) {
		t.Fatalf("Commit = %+v, want key %s size %d", info, hashOf(data), len(data))
	}
	if got := read(t, s, info.Key); !bytes.Equal(got, data) {
		t.Fatal("read back other bytes")
	}
	st, err := s.Stat(ctx(), info.Key)
	if err != nil || st.Key != info.Key || st.Size != info.Size || st.ModTime.IsZero() {
		t.Fatalf("Stat = %+v, %v", st, err)
	}
}

func testEmpty(t *testing.T, open func() blob.Store) {
	s := open()
	info := put(t, s, nil)
	if info.Key != hashOf(nil) || info.Size != 0 {
		t.Fatalf("empty blob = %+v", info)
	}
	if got := read(t, s, info.Key); len(got) != 0 {
		t.Fatalf("empty blob read %d bytes", len(got))
	}
}

// testLarge passes the size where S3 clients switch to multipart uploads.
func testLarge(t *testing.T, open func() blob.Store) {
	s := open()
	data := random(t, 17<<20)
	info := put(t, s, data)
	if got := read(t, s, info.Key); !bytes.Equal(got, data) {
		t.Fatal("large blob read back other bytes")
	}
}

func testLimit(t *testing.T, open func() blob.Store) {
	s := open()
	data := random(t, 1000)
	up := started(t, s, 999, data[:999]) // up to the limit
	if _, err := up.Write(data[999:]); !errors.Is(err, blob.ErrTooLarge) {
		t.Fatalf("a write past the limit = %v, want ErrTooLarge", err)
	}
	if _, err := up.Commit(ctx()); err == nil {
		t.Fatal("Commit after a refused write succeeded")
	}
	for _, k := range []string{hashOf(data), hashOf(data[:999])} {
		if _, err := s.Stat(ctx(), k); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("an upload over its limit left %s: %v", k, err)
		}
	}
	if _, err := started(t, s, 1000, data).Commit(ctx()); err != nil {
		t.Fatal(err)
	}
}

func testAbort(t *testing.T, open func() blob.Store) {
	s := open()
	data := random(t, 5000)
	up := started(t, s, 0, data)
	if up.Size() != 5000 || up.Sum() != hashOf(data) {
		t.Fatalf("Size %d Sum %s before commit", up.Size(), up.Sum())
	}
	up.Abort()
	up.Abort()
	if _, err := up.Commit(ctx()); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
	if _, err := s.Stat(ctx(), hashOf(data)); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("aborted upload is stored: %v", err)
	}
	assertKeys(t, s)
}

func testDeduplicates(t *testing.T, open func() blob.Store) {
	s := open()
	data := random(t, 3000)
	a, b := put(t, s, data), put(t, s, data)
	if a.Key != b.Key {
		t.Fatalf("same bytes, keys %s and %s", a.Key, b.Key)
	}
	assertKeys(t, s, a.Key)
}

func testConcurrent(t *testing.T, open func() blob.Store) {
	s := open()
	same, other := random(t, 50_000), random(t, 50_000)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		data := same
		if i%4 == 3 {
			data = other
		}
		wg.Go(func() {
			up, err := s.Create(ctx(), 0)
			if err != nil {
				errs <- err
				return
			}
			defer up.Abort()
			if _, err := up.Write(data); err != nil {
				errs <- err
				return
			}
			if _, err := up.Commit(ctx()); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	assertKeys(t, s, hashOf(same), hashOf(other))
	if !bytes.Equal(read(t, s, hashOf(same)), same) {
		t.Fatal("concurrent commits of the same bytes left other bytes")
	}
}

func testSeek(t *testing.T, open func() blob.Store) {
	s := open()
	data := random(t, 200_000)
	info := put(t, s, data)
	o, err := s.Open(ctx(), info.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if end, err := o.Seek(0, io.SeekEnd); err != nil || end != int64(len(data)) {
		t.Fatalf("Seek to end = %d, %v", end, err)
	}
	for _, r := range [][2]int{{150_000, 160_000}, {10, 20}, {199_990, 200_000}, {0, 5}} {
		if _, err := o.Seek(int64(r[0]), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, r[1]-r[0])
		if _, err := io.ReadFull(o, buf); err != nil {
			t.Fatalf("read %v: %v", r, err)
		}
		if !bytes.Equal(buf, data[r[0]:r[1]]) {
			t.Fatalf("range %v read other bytes", r)
		}
	}
}

func testNotFound(t *testing.T, open func() blob.Store) {
	s := open()
	k := hashOf([]byte("never stored"))
	if _, err := s.Open(ctx(), k); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open of a missing blob = %v", err)
	}
	if _, err := s.Stat(ctx(), k); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat of a missing blob = %v", err)
	}
}

func testInvalidKey(t *testing.T, open func() blob.Store) {
	s := open()
	put(t, s, []byte("x")) // a store with something in it
	for _, k := range []string{"", "..", "../x", "ab/cd", hashOf(nil)[:63], hashOf(nil) + "0",
		"A" + hashOf(nil)[1:], "tmp", "../" + hashOf(nil)[3:]} {
		if _, err := s.Open(ctx(), k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Open(%q) = %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Stat(ctx(), k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidKey", k, err)
		}
		if err := s.Delete(ctx(), k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
}

func testDelete(t *testing.T, open func() blob.Store) {
	s := open()
	a, b := put(t, s, []byte("first")), put(t, s, []byte("second"))
	if err := s.Delete(ctx(), a.Key); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx(), a.Key); err != nil {
		t.Fatalf("deleting a missing blob: %v", err)
	}
	if _, err := s.Open(ctx(), a.Key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("deleted blob opens: %v", err)
	}
	assertKeys(t, s, b.Key)
}

func testList(t *testing.T, open func() blob.Store) {
	s := open()
	assertKeys(t, s)
	var keys []string
	for i := range 5 {
		keys = append(keys, put(t, s, []byte{byte(i), 'x'}).Key)
	}
	assertKeys(t, s, keys...)
	stop := errors.New("stop")
	n := 0
	err := s.List(ctx(), func(blob.Info) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("List went on after fn's error: %d calls, %v", n, err)
	}
}

// testShared: a second handle (another node) sees what the first stored.
func testShared(t *testing.T, open func() blob.Store) {
	a, b := open(), open()
	data := random(t, 10_000)
	info := put(t, a, data)
	if !bytes.Equal(read(t, b, info.Key), data) {
		t.Fatal("the second handle reads other bytes")
	}
	if err := b.Delete(ctx(), info.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Stat(ctx(), info.Key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("deleted through one handle, still there through the other: %v", err)
	}
}

func testCancelledCommit(t *testing.T, open func() blob.Store) {
	s := open()
	data := random(t, 1000)
	up := started(t, s, 0, data)
	c, cancel := context.WithCancel(ctx())
	cancel()
	if _, err := up.Commit(c); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit with a cancelled context = %v", err)
	}
	if _, err := s.Stat(ctx(), hashOf(data)); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("a cancelled commit stored the blob: %v", err)
	}
}

// testCopy: blob.Copy between two stores of this kind copies what is
// missing, and a second run finds everything present.
func testCopy(t *testing.T, open func() blob.Store) {
	from := open()
	keys := []string{put(t, from, []byte("one")).Key, put(t, from, random(t, 70_000)).Key}
	to := newEmptyDisk(t)
	copied, present, err := blob.Copy(ctx(), from, to)
	if err != nil || copied != 2 || present != 0 {
		t.Fatalf("Copy = %d copied, %d present, %v", copied, present, err)
	}
	assertKeys(t, to, keys...)
	if copied, present, err = blob.Copy(ctx(), from, to); err != nil || copied != 0 || present != 2 {
		t.Fatalf("second Copy = %d copied, %d present, %v", copied, present, err)
	}
	if !bytes.Equal(read(t, to, keys[1]), read(t, from, keys[1])) {
		t.Fatal("copied blob differs")
	}
}

func newEmptyDisk(t *testing.T) blob.Store {
	d, err := blob.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// assertKeys checks that List returns exactly keys.
func assertKeys(t *testing.T, s blob.Store, keys ...string) {
	t.Helper()
	var got []string
	if err := s.List(ctx(), func(i blob.Info) error {
		if i.Size < 0 || !blob.ValidKey(i.Key) {
			t.Errorf("List gave %+v", i)
		}
		got = append(got, i.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := append([]string(nil), keys...)
	sort.Strings(got)
	sort.Strings(want)
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Bench stores and reads back size-byte blobs of new content, one per
// iteration, and reports the bytes per second of the round trip.
func Bench(b *testing.B, s blob.Store, size int) {
	data := make([]byte, size)
	rand.Read(data)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16) // new content, new key
		up, err := s.Create(ctx(), 0)
		if err != nil {
			b.Fatal(err)
		}
		up.Write(data)
		info, err := up.Commit(ctx())
		if err != nil {
			b.Fatal(err)
		}
		o, err := s.Open(ctx(), info.Key)
		if err != nil {
			b.Fatal(err)
		}
		if n, _ := io.Copy(io.Discard, o); n != int64(size) {
			b.Fatalf("read %d bytes", n)
		}
		o.Close()
	}
}
