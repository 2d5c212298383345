package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-chat/parley/internal/store"
)

// settingPublicURL keeps the URL the server last started with, so operator
// commands run without the server's flags (parley signin-link) still print
// links that open the running server.
const settingPublicURL = "public_url"

// RememberPublicURL records the URL the server serves at; serve calls it at start.
func RememberPublicURL(ctx context.Context, st store.Store, url string) error {
	if err := st.PutSetting(ctx, settingPublicURL, url); err != nil {
		return fmt.Errorf("remember public url: %w", err)
	}
	return nil
}

// RememberedPublicURL is the URL the server last started with, or "" if it
// has never started on this database.
func RememberedPublicURL(ctx context.Context, st store.Store) (string, error) {
	url, err := st.GetSetting(ctx, settingPublicURL)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return url, err
}
