package chat

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/ids"
	"github.com/parley-chat/parley/internal/media"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

// Upload streams a file into the blob store for a conversation the caller
// may write to. The attachment is usable only by its uploader, only in
// that conversation, and downloadable only by those who can read it.
func (s *Service) Upload(ctx context.Context, id auth.Identity, convID, kind, name string, r io.Reader) (protocol.Attachment, error) {
	c, err := s.writable(ctx, id, convID)
	if err != nil {
		return protocol.Attachment{}, err
	}
	if s.blobs == nil {
		return protocol.Attachment{}, apperr.New(apperr.Unavailable, apperr.CodeInternal, "uploads are not configured")
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
	return protocol.Attachment{ID: a.ID, Kind: a.Kind, ContentType: a.ContentType, Size: a.Size, Name: a.Name,
		URL: "/api/v1/attachments/" + a.ID}, nil
}

// OpenAttachment returns an attachment and its file for a caller who can
// read its conversation. The caller closes the file.
func (s *Service) OpenAttachment(ctx context.Context, id auth.Identity, attID string) (store.Attachment, *os.File, error) {
	a, err := s.st.GetAttachment(ctx, id.AccountID, attID)
	if errors.Is(err, store.ErrNotFound) {
		return a, nil, apperr.NotFoundf("no attachment %q", attID)
	}
	if err != nil {
		return a, nil, apperr.Wrap("chat.OpenAttachment", err)
	}
	if _, err := s.access(ctx, id, a.ConversationID); err != nil {
		return a, nil, err
	}
	if s.blobs == nil {
		return a, nil, apperr.New(apperr.Unavailable, apperr.CodeInternal, "uploads are not configured")
	}
	f, err := s.blobs.Open(a.SHA256)
	if err != nil {
		return a, nil, apperr.Wrap("chat.OpenAttachment", err)
	}
	return a, f, nil
}
