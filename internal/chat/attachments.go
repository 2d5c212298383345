package chat

import (
	"context"
	"errors"
	"io"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/blob"
	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/internal/media"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// BearerURL is the attachment's download route for callers with a bearer
// credential (API clients); browsers get signed URLs instead.
func BearerURL(attID string) string { return "/api/v1/attachments/" + attID }

// Upload streams a file into the blob store for a conversation the caller
// may write to. The attachment is usable only by its uploader, only in
// that conversation, and downloadable only by those who can read it.
func (s *Service) Upload(ctx context.Context, id auth.Identity, convID, kind, name string, r io.Reader) (protocol.Attachment, error) {
	c, err := s.writable(ctx, id, convID)
	if err != nil {
		return protocol.Attachment{}, err
	}
	if s.blobs == nil {
		return protocol.Attachment{}, errNoUploads()
	}
	saved, err := s.blobs.Save(ctx, kind, r, name)
	if err != nil {
		return protocol.Attachment{}, err
	}
	a := store.Attachment{
		ID: ids.New(ids.Attachment), AccountID: id.AccountID, ConversationID: c.ID, UploaderID: id.UserID,
		Kind: kind, ContentType: saved.ContentType, Size: saved.Size, SHA256: saved.SHA256,
		Name: media.SanitizeName(name), CreatedAt: s.clock(),
	}
	if err := s.st.CreateAttachment(ctx, a); err != nil {
		return protocol.Attachment{}, apperr.Wrap("chat.Upload", err)
	}
	return s.wireAttachment(a), nil
}

func errNoUploads() error {
	return apperr.New(apperr.Unavailable, apperr.CodeInternal, "uploads are not configured")
}

// wireAttachment is a as clients see it: with a signed download URL when
// links are configured.
func (s *Service) wireAttachment(a store.Attachment) protocol.Attachment {
	out := protocol.Attachment{ID: a.ID, Kind: a.Kind, ContentType: a.ContentType, Size: a.Size, Name: a.Name,
		URL: BearerURL(a.ID)}
	if s.cfg.Links != nil {
		u, exp := s.cfg.Links.Sign(a.AccountID, a.ID)
		out.URL, out.URLExpiresAt = u, &exp
	}
	return out
}

// readableAttachment loads an attachment for a caller who can read its
// conversation.
func (s *Service) readableAttachment(ctx context.Context, id auth.Identity, attID string) (store.Attachment, error) {
	a, err := s.st.GetAttachment(ctx, id.AccountID, attID)
	if errors.Is(err, store.ErrNotFound) {
		return a, apperr.NotFoundf("no attachment %q", attID)
	}
	if err != nil {
		return a, apperr.Wrap("chat.attachment", err)
	}
	if _, err := s.access(ctx, id, a.ConversationID); err != nil {
		return a, err
	}
	return a, nil
}

// AttachmentLink returns an attachment with a fresh signed URL, for a
// caller who can read its conversation (a URL in an older message may have
// expired).
func (s *Service) AttachmentLink(ctx context.Context, id auth.Identity, attID string) (protocol.Attachment, error) {
	a, err := s.readableAttachment(ctx, id, attID)
	if err != nil {
		return protocol.Attachment{}, err
	}
	return s.wireAttachment(a), nil
}

// OpenAttachment returns an attachment and its blob for a caller who can
// read its conversation. The caller closes the blob.
func (s *Service) OpenAttachment(ctx context.Context, id auth.Identity, attID string) (store.Attachment, blob.Object, error) {
	a, err := s.readableAttachment(ctx, id, attID)
	if err != nil {
		return a, nil, err
	}
	o, err := s.OpenBlob(ctx, a)
	return a, o, err
}

// SignedAttachment checks a signed download URL's parameters and returns
// the attachment it names: the signature is the permission (whoever was
// given the URL could read the conversation when it was made), so nothing
// else is asked. url_invalid or url_expired (403) when the signature does
// not hold; not_found when the attachment is gone.
func (s *Service) SignedAttachment(ctx context.Context, accountID, attID, expires, sig string) (store.Attachment, error) {
	if s.cfg.Links == nil || s.blobs == nil {
		return store.Attachment{}, apperr.NotFoundf("signed downloads are not configured")
	}
	if err := s.cfg.Links.Check(accountID, attID, expires, sig); err != nil {
		return store.Attachment{}, err
	}
	a, err := s.st.GetAttachment(ctx, accountID, attID)
	if errors.Is(err, store.ErrNotFound) {
		return a, apperr.NotFoundf("no attachment %q", attID)
	}
	if err != nil {
		return a, apperr.Wrap("chat.SignedAttachment", err)
	}
	return a, nil
}

// OpenBlob opens an attachment's bytes. The caller closes them.
func (s *Service) OpenBlob(ctx context.Context, a store.Attachment) (blob.Object, error) {
	if s.blobs == nil {
		return nil, errNoUploads()
	}
	o, err := s.blobs.Open(ctx, a.SHA256)
	if err != nil {
		return nil, apperr.Wrap("chat.OpenBlob", err)
	}
	return o, nil
}

// BlobRedirect returns a URL of the blob store itself that serves a's bytes
// with the given headers for the links' lifetime, or "" when downloads pass
// through this server (the disk store, or S3 without redirect=true).
func (s *Service) BlobRedirect(ctx context.Context, a store.Attachment, contentType, disposition string) (string, error) {
	if s.blobs == nil || s.cfg.Links == nil {
		return "", nil
	}
	return s.blobs.Redirect(ctx, a.SHA256, s.cfg.Links.TTL(), contentType, disposition)
}
