package api

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"time"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/media"
	"github.com/parley-chat/parley/internal/textcheck"
	"github.com/parley-chat/parley/protocol"
)

// maxParts bounds the parts of one multipart body (fields plus the file).
const maxParts = 16

func isMultipart(r *http.Request) bool {
	t, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && t == "multipart/form-data"
}

func isKind(s string) bool {
	return s == media.KindImage || s == media.KindVoice || s == media.KindFile
}

// capUpload limits an upload body to a little above the largest upload.
func (a *API) capUpload(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxUploadBytes+uploadOverhead)
}

func multipartReader(r *http.Request) (*multipart.Reader, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, apperr.Invalidf("malformed multipart body: %v", err)
	}
	return mr, nil
}

// nextPart returns the next part, nil at the end.
func nextPart(mr *multipart.Reader, n int) (*multipart.Part, error) {
	if n >= maxParts {
		return nil, apperr.Invalidf("at most %d multipart parts", maxParts)
	}
	p, err := mr.NextPart()
	if err == io.EOF {
		return nil, nil
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, err // writeError: file_too_large
	}
	if err != nil {
		return nil, apperr.Invalidf("malformed multipart body: %v", err)
	}
	return p, nil
}

// sendMultipart posts a message with an attachment from multipart/form-data:
// one file part named image, voice or file (the name is the kind and the
// message type) and the text fields client_id, text (the caption), reply_to
// and duration_ms. The file part is streamed into the blob store as it
// arrives; nothing holds the whole file in memory or copies it twice.
func (a *API) sendMultipart(w http.ResponseWriter, r *http.Request, id auth.Identity, convID string) (protocol.Message, error) {
	a.capUpload(w, r)
	mr, err := multipartReader(r)
	if err != nil {
		return protocol.Message{}, err
	}
	req := protocol.SendRequest{ConversationID: convID}
	fieldMax := int64(max(a.chat.Config().MaxMessageBytes, 1024))
	var att *protocol.Attachment
	for n := 0; ; n++ {
		p, err := nextPart(mr, n)
		if err != nil {
			return protocol.Message{}, err
		}
		if p == nil {
			break
		}
		name := p.FormName()
		switch {
		case isKind(name):
			if att != nil {
				return protocol.Message{}, apperr.Invalidf("a message carries one file part")
			}
			up, err := a.chat.Upload(r.Context(), id, convID, name, p.FileName(), p)
			if err != nil {
				return protocol.Message{}, err
			}
			att = &up
			req.Type, req.AttachmentID = name, up.ID
		case name == "client_id" || name == "text" || name == "reply_to" || name == "duration_ms":
			b, err := io.ReadAll(io.LimitReader(p, fieldMax+1))
			if err != nil {
				return protocol.Message{}, uploadReadErr(err)
			}
			if int64(len(b)) > fieldMax {
				return protocol.Message{}, apperr.New(apperr.TooLarge, apperr.CodeMessageTooLarge, "field %s is over %d bytes", name, fieldMax)
			}
			v := string(b)
			if err := textcheck.String(v); err != nil {
				return protocol.Message{}, err
			}
			switch name {
			case "client_id":
				req.ClientID = v
			case "text":
				req.Text = v
			case "reply_to":
				req.ReplyTo = v
			case "duration_ms":
				d, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return protocol.Message{}, apperr.Invalidf("duration_ms must be an integer")
				}
				req.DurationMS = d
			}
		default:
			// Unknown parts are skipped (NextPart discards the rest).
		}
		p.Close()
	}
	if att == nil {
		return protocol.Message{}, apperr.Invalidf("a multipart message needs a file part named image, voice or file")
	}
	if req.ClientID, err = idempotencyKey(r, req.ClientID); err != nil {
		return protocol.Message{}, err
	}
	return a.chat.Send(r.Context(), id, req)
}

func uploadReadErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return apperr.Invalidf("upload interrupted: %v", err)
}

// upload stores an attachment for a later send: the raw body (its
// Content-Type is ignored; the bytes are sniffed) with ?kind= and optional
// ?name=, or multipart/form-data with one file part (the kind from ?kind=
// or else the part's name).
func (a *API) upload(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	convID := r.PathValue("id")
	kind := r.URL.Query().Get("kind")
	if kind != "" && !isKind(kind) {
		return apperr.Invalidf("kind must be image, voice or file")
	}
	a.capUpload(w, r)
	var (
		att protocol.Attachment
		err error
	)
	if isMultipart(r) {
		att, err = a.uploadMultipart(r, id, convID, kind)
	} else {
		if kind == "" {
			return apperr.Invalidf("kind is required: ?kind=image, voice or file")
		}
		att, err = a.chat.Upload(r.Context(), id, convID, kind, r.URL.Query().Get("name"), r.Body)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, att)
	return nil
}

func (a *API) uploadMultipart(r *http.Request, id auth.Identity, convID, kind string) (protocol.Attachment, error) {
	mr, err := multipartReader(r)
	if err != nil {
		return protocol.Attachment{}, err
	}
	for n := 0; ; n++ {
		p, err := nextPart(mr, n)
		if err != nil {
			return protocol.Attachment{}, err
		}
		if p == nil {
			return protocol.Attachment{}, apperr.Invalidf("the multipart body has no file part")
		}
		if p.FileName() == "" && !isKind(p.FormName()) {
			p.Close()
			continue // a text field: skipped
		}
		k := kind
		if k == "" {
			k = p.FormName()
		}
		if !isKind(k) {
			return protocol.Attachment{}, apperr.Invalidf("kind is required: ?kind=image, voice or file, or name the part so")
		}
		defer p.Close()
		return a.chat.Upload(r.Context(), id, convID, k, p.FileName(), p)
	}
}

// download serves an attachment to a caller who can read its conversation,
// with ranges and the blob's SHA-256 as ETag, typed as stored, never
// sniffed, inline only for images, audio and video, and sandboxed.
func (a *API) download(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	att, f, err := a.chat.OpenAttachment(r.Context(), id, r.PathValue("id"))
	if err != nil {
		return err
	}
	defer f.Close()
	h := w.Header()
	media.SetDownloadHeaders(h, att.ContentType, att.Name)
	h.Set("Cache-Control", "private")
	h.Set("ETag", `"`+att.SHA256+`"`)
	serveFile(w, r, att.CreatedAt, f, att.Size)
	return nil
}

// attachmentLink gives a caller who can read the attachment's conversation
// a fresh signed URL for it.
func (a *API) attachmentLink(w http.ResponseWriter, r *http.Request, id auth.Identity) error {
	att, err := a.chat.AttachmentLink(r.Context(), id, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, att)
	return nil
}

// signedDownload serves an attachment to whoever holds a signed URL of it
// (no credential: an <img> or <audio> cannot send one), with the same
// headers as download; or, when the blob store is S3 reachable by
// browsers, redirects to a presigned URL of the bucket. A signature that
// does not match is 403 url_invalid, an expired one 403 url_expired.
func (a *API) signedDownload(w http.ResponseWriter, r *http.Request, _ auth.Identity) error {
	q := r.URL.Query()
	expires := q.Get("expires")
	att, err := a.chat.SignedAttachment(r.Context(), r.PathValue("account"), r.PathValue("id"), expires, q.Get("sig"))
	if err != nil {
		return err
	}
	h := w.Header()
	media.SetDownloadHeaders(h, att.ContentType, att.Name)
	h.Set("Referrer-Policy", "no-referrer") // the URL is a credential until it expires
	if until, err := strconv.ParseInt(expires, 10, 64); err == nil {
		h.Set("Cache-Control", "private, max-age="+strconv.FormatInt(max(0, until-time.Now().Unix()), 10))
	}
	to, err := a.chat.BlobRedirect(r.Context(), att, h.Get("Content-Type"), h.Get("Content-Disposition"))
	if err != nil {
		return err
	}
	if to != "" {
		for _, k := range []string{"Content-Type", "Content-Disposition"} { // the bucket answers with them
			h.Del(k)
		}
		http.Redirect(w, r, to, http.StatusFound)
		return nil
	}
	f, err := a.chat.OpenBlob(r.Context(), att)
	if err != nil {
		return err
	}
	defer f.Close()
	h.Set("ETag", `"`+att.SHA256+`"`)
	serveFile(w, r, att.CreatedAt, f, att.Size)
	return nil
}
