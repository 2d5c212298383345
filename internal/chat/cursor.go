package chat

import (
	"context"
	"math"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/store"
)

// foreignCursor tells whether a chat:sync cursor (seq > 0, and the id the
// client holds for the message at seq, if it sent one) is from another
// history than this database's: no message has that seq (the cursor is
// ahead, as after restoring a backup taken before the client saw it), or
// another message has it (restored, then new messages took the seqs again).
// ms are the conversation's messages from seq on, in seq order.
//
// Checking the message at the cursor, rather than a database epoch, catches
// both: a restored backup brings back its old epoch, so an epoch alone
// cannot tell a reused seq from the one the client saw.
func foreignCursor(ms []store.Message, seq int64, atID string) bool {
	if len(ms) == 0 || ms[0].Seq != seq {
		return true
	}
	return atID != "" && ms[0].ID != atID
}

// lastSeq is the conversation's newest committed seq (0 when it has no
// messages), read from the store: the cached conversation's may be stale.
func (s *Service) lastSeq(ctx context.Context, convID string) (int64, error) {
	ms, err := s.st.ListMessages(ctx, convID, math.MaxInt64, 0, 1)
	if err != nil {
		return 0, apperr.Wrap("chat.lastSeq", err)
	}
	if len(ms) == 0 {
		return 0, nil
	}
	return ms[0].Seq, nil
}
