package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/turn"
)

const settingTURNSecret = "turn_secret"

// TURNSecret is the TURN REST shared secret: the configured one, or one
// generated on first start and kept in the database (give it to an
// external coturn as static-auth-secret: `parley turn-secret` prints it).
func TURNSecret(ctx context.Context, st store.Store, configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	s, err := st.GetSetting(ctx, settingTURNSecret)
	if errors.Is(err, store.ErrNotFound) {
		s = auth.NewSecret(32)
		err = st.PutSetting(ctx, settingTURNSecret, s)
	}
	if err != nil {
		return "", fmt.Errorf("turn secret: %w", err)
	}
	return s, nil
}

// startTURN starts the embedded TURN/STUN server when enabled and sets up
// the ICE servers handed to clients.
func (a *App) startTURN(ctx context.Context) error {
	cfg := a.Cfg
	secret, err := TURNSecret(ctx, a.Store, cfg.TURNSecret)
	if err != nil {
		return err
	}
	a.ICE = &turn.ICE{Secret: secret, External: cfg.TURNURLs, TTL: cfg.TURNCredentialTTL}
	if !cfg.TURNEnabled {
		return nil
	}
	host := cfg.TURNHost
	if host == "" {
		if u, err := url.Parse(cfg.PublicURLOrDefault()); err == nil {
			host = u.Hostname()
		}
	}
	a.TURN, err = turn.Start(turn.Config{
		Listen: cfg.TURNListen, TLSListen: cfg.TURNTLSListen, CertFile: cfg.TURNCertFile, KeyFile: cfg.TURNKeyFile,
		PublicIP: cfg.TURNPublicIP, Host: host, RelayPortMin: cfg.TURNRelayPortMin, RelayPortMax: cfg.TURNRelayPortMax,
		Secret: secret, CredentialTTL: cfg.TURNCredentialTTL, AllocationsPerUser: cfg.TURNAllocationsPerUser,
		AllowPrivatePeers: cfg.TURNAllowPrivatePeers,
	}, a.Log)
	if err != nil {
		return err
	}
	a.ICE.Server = a.TURN
	a.Log.Info("turn listening", "addr", cfg.TURNListen)
	return nil
}
