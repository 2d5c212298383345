package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-chat/parley/internal/s3test"
	"github.com/parley-chat/parley/protocol"
)

// TestAttachmentAcrossNodesOnS3: two parley processes share a PostgreSQL
// database, a Redis and an S3 bucket (--blob-url s3://…). An image sent
// through node A reaches Bob on node B, and his node serves it, by the
// signed URL in the message (no credential) and by the bearer route, from
// the bucket: node A's data directory holds no copy of it.
func TestAttachmentAcrossNodesOnS3(t *testing.T) {
	c := newCluster(t, 0)
	bucket := s3test.Bucket(t)
	c.shared = append(c.shared, "--blob-url", s3test.URL(bucket))
	dirA := t.TempDir()
	for i, dir := range []string{dirA, t.TempDir()} {
		c.ids = append(c.ids, fmt.Sprintf("blobs%d", i))
		c.nodes = append(c.nodes, start(t, dir, append([]string{"--node-id", c.ids[i]}, c.shared...)...))
	}
	a, b := c.nodes[0], c.nodes[1]
	aliceTok := c.token("alice")
	alice := listen(t, a, aliceTok)
	bobTok := c.token("bob")
	bob := listen(t, b, bobTok)
	conv, err := alice.Create(context.Background(), protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "files", Members: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}

	img := pngImage(t)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("image", "photo.png")
	fw.Write(img)
	mw.WriteField("client_id", "photo-1")
	mw.Close()
	req, _ := http.NewRequest("POST", a.url()+"/api/v1/conversations/"+conv.ID+"/messages", &body)
	req.Header.Set("Authorization", "Bearer "+aliceTok)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("send with an image through node A: %d", resp.StatusCode)
	}

	m := nextMessage(t, bob, conv.ID)
	if m.Attachment == nil || !strings.HasPrefix(m.Attachment.URL, "/api/v1/downloads/") {
		t.Fatalf("bob's copy on node B: %+v", m.Attachment)
	}
	if got := get(t, b.url()+m.Attachment.URL, ""); !bytes.Equal(got, img) {
		t.Fatalf("node B served %d bytes by the signed URL, want the %d sent", len(got), len(img))
	}
	if got := get(t, b.url()+"/api/v1/attachments/"+m.Attachment.ID, bobTok); !bytes.Equal(got, img) {
		t.Fatal("node B's bearer route served other bytes")
	}
	// The bytes are in the bucket, not on node A's disk.
	filepath.WalkDir(filepath.Join(dirA, "blobs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(p, string(filepath.Separator)+"tmp"+string(filepath.Separator)) {
			t.Errorf("node A keeps a file in its data directory: %s", p)
		}
		return nil
	})
}

// get fetches u (with a bearer token unless tok is empty) and wants 200.
func get(t *testing.T, u, tok string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return b
}

func pngImage(t *testing.T) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 32, 16))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
