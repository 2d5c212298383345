// Package app is the composition root: it picks the store, bus and blob
// store from the configuration, wires the domain to the transports, serves
// HTTP and shuts everything down in order.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/budget"
	"github.com/parley-chat/parley/internal/budget/redisbudget"
	"github.com/parley-chat/parley/internal/bus"
	"github.com/parley-chat/parley/internal/bus/local"
	redisbus "github.com/parley-chat/parley/internal/bus/redis"
	"github.com/parley-chat/parley/internal/calls"
	"github.com/parley-chat/parley/internal/chat"
	"github.com/parley-chat/parley/internal/cluster"
	"github.com/parley-chat/parley/internal/cluster/rediscluster"
	"github.com/parley-chat/parley/internal/cluster/relay"
	"github.com/parley-chat/parley/internal/config"
	"github.com/parley-chat/parley/internal/inbox"
	"github.com/parley-chat/parley/internal/media"
	"github.com/parley-chat/parley/internal/push"
	"github.com/parley-chat/parley/internal/rooms"
	"github.com/parley-chat/parley/internal/sfu"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/internal/store/postgres"
	"github.com/parley-chat/parley/internal/store/sqlite"
	"github.com/parley-chat/parley/internal/transport/api"
	"github.com/parley-chat/parley/internal/transport/site"
	"github.com/parley-chat/parley/internal/transport/ws"
	"github.com/parley-chat/parley/internal/turn"
	"github.com/parley-chat/parley/protocol"
)

// App is one running Parley node.
type App struct {
	Cfg   config.Config
	Log   *slog.Logger
	Store store.Store
	Bus   bus.Bus
	Blobs *media.Store
	Auth  *auth.Authenticator
	Chat  *chat.Service
	Inbox *inbox.Service
	Push  *push.Service
	Calls *calls.Service
	SFU   *sfu.SFU       // nil when sfu_udp_addr is empty
	Rooms *rooms.Service // nil without an SFU
	// Recordings are the rooms' recordings (under data_dir/recordings).
	Recordings rooms.Recordings
	TURN       *turn.Server // nil when the embedded TURN server is off
	ICE        *turn.ICE
	WS         *ws.Server
	API        *api.API
	Site       *site.Site
	// Relay carries requests between nodes (rooms and calls of other
	// nodes); nil on one node.
	Relay *relay.Relay

	// NodeID names this node among the nodes (node_id).
	NodeID string

	http     *http.Server
	redis    *goredis.Client    // nil on one node
	cluster  *rediscluster.Node // nil on one node
	presence presenceRelay      // the cluster's presence transitions, to Chat
}

// DBPath is where the SQLite database lives inside the data directory.
func DBPath(dataDir string) string { return filepath.Join(dataDir, "parley.db") }

// Which store, bus and budget a configuration picks: one node keeps
// everything on this machine (SQLite, in-process bus, memory budgets);
// database_url and redis_url move what nodes must share out of it.
const (
	StoreSQLite   = "sqlite"
	StorePostgres = "postgres"
	BusLocal      = "local"
	BusRedis      = "redis"
	BudgetMemory  = "memory"
	BudgetRedis   = "redis"
)

// Backends names the implementations cfg picks.
type Backends struct{ Store, Bus, Budget string }

// BackendsOf is the one place that decides which implementations a
// configuration runs on.
func BackendsOf(cfg config.Config) Backends {
	b := Backends{Store: StoreSQLite, Bus: BusLocal, Budget: BudgetMemory}
	if cfg.DatabaseURL != "" {
		b.Store = StorePostgres
	}
	if cfg.RedisURL != "" {
		b.Bus, b.Budget = BusRedis, BudgetRedis
	}
	return b
}

// OpenStore opens the configured store: the SQLite file in the data
// directory, or the PostgreSQL database of database_url.
func OpenStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	switch BackendsOf(cfg).Store {
	case StorePostgres:
		return postgres.Open(ctx, cfg.DatabaseURL)
	default:
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		return sqlite.Open(ctx, DBPath(cfg.DataDir), sqlite.Options{MaxBatch: cfg.CommitBatchMax})
	}
}

// Migrate applies the configured store's migrations and says where.
func Migrate(ctx context.Context, cfg config.Config) (string, error) {
	switch BackendsOf(cfg).Store {
	case StorePostgres:
		if err := postgres.Migrate(ctx, cfg.DatabaseURL); err != nil {
			return "", err
		}
		return "the PostgreSQL database of database_url", nil
	default:
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return "", err
		}
		if err := sqlite.Migrate(ctx, DBPath(cfg.DataDir)); err != nil {
			return "", err
		}
		return DBPath(cfg.DataDir), nil
	}
}

// NodeID is cfg's node_id, or the host name and a random suffix.
func NodeID(cfg config.Config) string {
	if cfg.NodeID != "" {
		return cfg.NodeID
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}

// openShared connects the bus and the budget store: in-process, or on the
// Redis of redis_url (one client for both, named after the node so
// CLIENT LIST tells the nodes apart).
func (a *App) openShared(ctx context.Context) (budget.Budget, error) {
	be := BackendsOf(a.Cfg)
	switch be.Bus {
	case BusRedis:
		opt, err := goredis.ParseURL(a.Cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("redis_url: %w", err)
		}
		opt.ClientName = a.NodeID
		a.redis = goredis.NewClient(opt)
		rb, err := redisbus.New(ctx, a.redis, redisbus.Config{Prefix: a.Cfg.RedisPrefix, Log: a.Log})
		if err != nil {
			a.redis.Close()
			return nil, fmt.Errorf("redis bus: %w", err)
		}
		a.Bus = rb
		// Cluster-wide state: claims (one-time links), slots (connection
		// caps), presence (who is connected on any node) and the
		// directory of rooms and calls.
		a.cluster, err = rediscluster.New(ctx, a.redis, rediscluster.Config{NodeID: a.NodeID, Prefix: a.Cfg.RedisPrefix, TTL: a.Cfg.ClusterTTL, Log: a.Log,
			OnChange: a.presence.report})
		if err != nil {
			rb.Close()
			a.redis.Close()
			return nil, fmt.Errorf("redis cluster state: %w", err)
		}
		a.Relay = relay.New(a.Bus, a.NodeID, a.Log) // rooms and calls of other nodes
	default:
		a.Bus = local.New()
	}
	switch be.Budget {
	case BudgetRedis:
		return redisbudget.New(a.redis, a.Cfg.RedisPrefix), nil
	default:
		return budget.NewMemory(), nil
	}
}

// New opens storage and builds every component, without listening yet.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &App{Cfg: cfg, Log: log, Store: st, NodeID: NodeID(cfg)}
	budgets, err := a.openShared(ctx)
	if err != nil {
		st.Close()
		return nil, err
	}
	be := BackendsOf(cfg)
	log.Info("backends", "node", a.NodeID, "store", be.Store, "bus", be.Bus, "budget", be.Budget, "blobs", BlobsKind(cfg.BlobURL))
	blobs, err := OpenBlobs(ctx, cfg.BlobURL, cfg.DataDir)
	if err != nil {
		a.abandon()
		return nil, fmt.Errorf("blob store: %w", err)
	}
	a.Blobs, err = media.New(blobs, media.Limits{
		Image: cfg.UploadImageMax, Voice: cfg.UploadVoiceMax, File: cfg.UploadFileMax,
	})
	if err != nil {
		blobs.Close()
		a.abandon()
		return nil, fmt.Errorf("blob store: %w", err)
	}
	secret, err := Secret(ctx, st, cfg)
	if err != nil {
		a.abandon()
		return nil, err
	}
	a.Auth = auth.New(st, secret, cfg.TokenMaxTTL)
	if a.cluster != nil {
		a.Auth.SetClaims(a.cluster) // a one-time link works once across nodes
	}
	var presence cluster.Presence // nil: chat counts this node's connections in memory
	if a.cluster != nil {
		presence = a.cluster // a user connected to two nodes is online once
	}
	a.Chat = chat.New(st, a.Bus, a.Blobs, chat.Config{
		Presence:           presence,
		MaxMessageBytes:    int(cfg.MaxMessageBytes),
		TypingTimeout:      cfg.TypingTimeout,
		PresenceMaxMembers: presenceMax(cfg.PresenceMaxMembers),
		SyncLimit:          cfg.SyncLimit,
		OnVisitorMessage: func(acc, conv, name string, m protocol.Message) {
			a.Push.VisitorMessage(acc, conv, name, m)
		},
		Links: media.NewLinks(secret, 0), // browsers download attachments by signed URLs
	})
	a.presence.deliver(a.Chat.PresenceChanged) // a dead node's users are announced offline
	a.Push, err = push.New(ctx, st, push.Config{Subject: cfg.PushSubject, PublicURL: cfg.PublicURLOrDefault(),
		AllowPrivate: cfg.PushAllowPrivateEndpoints}, a.Chat.Online, log)
	if err != nil {
		a.Chat.Close()
		a.abandon()
		return nil, err
	}
	if err := a.startTURN(ctx); err != nil {
		a.Push.Close()
		a.Chat.Close()
		a.abandon()
		return nil, err
	}
	iceFor := func(id auth.Identity) []protocol.ICEServer { return a.ICE.For(id.UserID, time.Now()) }
	// One budget for WebSocket and REST: a user's requests spend from it
	// however they arrive (in memory: one node; Redis with issue 11).
	guard := budget.NewGuard(budgets,
		budget.Rate{PerSecond: cfg.MessagesPerSecond, Burst: float64(cfg.MessagesBurst)},
		budget.Rate{PerSecond: cfg.AccountBudgetPerSecond, Burst: float64(cfg.AccountBudgetBurst)}, log)
	a.Inbox = inbox.New(st, a.Auth, a.Chat, inbox.Config{PublicURL: cfg.PublicURLOrDefault(), VisitorTokenTTL: cfg.VisitorTokenTTL,
		Bus: a.Bus}) // a regenerated address reaches every node's cache
	var slots ws.Slots // nil: this node counts its own connections
	if a.cluster != nil {
		slots = a.cluster // connection caps across nodes
	}
	var holdBack time.Duration // one node's bus delivers each conversation in seq order
	if BackendsOf(cfg).Bus == BusRedis {
		holdBack = ws.DefaultHoldBack // several nodes' messages can cross
	}
	a.WS = ws.New(ws.Config{
		HoldBack:           holdBack,
		MaxFrameBytes:      int(cfg.MaxFrameBytes),
		Budget:             guard,
		ConnsPerIP:         cfg.ConnsPerIP,
		ConnsPerAccount:    cfg.ConnsPerAccount,
		Slots:              slots,
		SendQueueBytes:     int(cfg.SendQueueBytes),
		WriteTimeout:       cfg.WriteTimeout,
		AuthTimeout:        cfg.AuthTimeout,
		PingInterval:       cfg.PingInterval,
		AllowedOrigins:     cfg.AllowedOrigins,
		TrustProxyHeaders:  cfg.TrustProxyHeaders,
		CoalesceRate:       cfg.WriteCoalesceRate,
		CoalesceDelay:      cfg.WriteCoalesceDelay,
		ICEServers:         iceFor,
		MaxCallBitrateKbps: cfg.CallMaxBitrate,
	}, a.Auth, a.Chat, a.Bus, log)
	callsCfg := calls.Config{RingTimeout: cfg.CallRingTimeout, ReconnectGrace: cfg.CallReconnectGrace}
	if a.cluster != nil { // a call's requests from other nodes are forwarded to its node
		callsCfg.Directory, callsCfg.Relay, callsCfg.CheckInterval = a.cluster, a.Relay, cfg.ClusterTTL/3
	}
	a.Calls = calls.New(a.Chat, a.Bus, callsCfg, log)
	a.WS.SetCalls(a.Calls)
	if err := a.startRooms(iceFor); err != nil {
		a.Calls.Close()
		if a.TURN != nil {
			a.TURN.Close()
		}
		a.Push.Close()
		a.Chat.Close()
		a.abandon()
		return nil, err
	}
	a.API = api.New(api.Config{
		AllowedOrigins:           cfg.AllowedOrigins,
		Budget:                   guard,
		Audience:                 a.Chat.Audience, // members: the same price on every node
		TokenTTL:                 cfg.TokenTTL,
		PublicURL:                cfg.PublicURLOrDefault(),
		MaxUploadBytes:           max(cfg.UploadImageMax, cfg.UploadVoiceMax, cfg.UploadFileMax),
		TrustProxyHeaders:        cfg.TrustProxyHeaders,
		AddressAttemptsPerMinute: cfg.AddressAttemptsPerMinute,
		LoginAttemptsPerMinute:   cfg.LoginAttemptsPerMinute,
		ConsoleSessionTTL:        cfg.ConsoleSessionTTL,
		SigninLinkTTL:            SigninLinkTTL,
		ICEServers:               iceFor,
	}, a.Auth, a.Chat, a.Inbox, a.Push, log)
	if a.Rooms != nil {
		a.API.SetRooms(a.Rooms, a.Recordings)
	}
	var mediaOrigins []string // where signed downloads redirect to (S3 with redirect=true)
	if o := a.Blobs.RedirectOrigin(ctx); o != "" {
		mediaOrigins = append(mediaOrigins, o)
	}
	a.Site = site.New(site.Config{PublicURL: cfg.PublicURLOrDefault(), MediaOrigins: mediaOrigins}, a.Store, a.Inbox, a.API.LimitAddress, log)
	return a, nil
}

// abandon closes what New opened before a later step failed.
func (a *App) abandon() {
	a.Store.Close()
	if a.cluster != nil {
		a.cluster.Close()
	}
	if a.cluster != nil {
		a.cluster.Close()
	}
	a.Bus.Close()
	if a.redis != nil {
		a.redis.Close()
	}
}

// presenceMax maps the setting's "0 = push to no groups" to chat's -1.
func presenceMax(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// Handler is every HTTP route of the node.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", a.API.Handler())
	mux.Handle("/ws", a.WS)
	mux.HandleFunc("GET /healthz", a.healthz)
	mux.Handle("/", a.Site.Handler()) // the pages, the widget and the console
	return mux
}

func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, `{"status":"ok","connections":%d}`+"\n", a.WS.Conns())
}

// Serve serves on ln until ctx is cancelled, then shuts down gracefully:
// no new connections, WebSockets told to go away (1001) and drained,
// pending commits flushed, the database closed.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	a.http = &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- a.http.Serve(ln) }()
	a.Log.Info("parley listening", "addr", ln.Addr().String(), "open", a.Cfg.PublicURLOrDefault())
	select {
	case err := <-errc:
		a.close()
		return err
	case <-ctx.Done():
	}
	a.Log.Info("shutting down", "timeout", a.Cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), a.Cfg.ShutdownTimeout)
	defer cancel()
	herr := a.http.Shutdown(sctx) // stops accepting; waits for REST requests
	werr := a.WS.Shutdown(sctx)   // hijacked WebSockets are ours to drain
	a.close()
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	a.Log.Info("stopped")
	return errors.Join(herr, werr)
}

// close flushes pending commits (whose events still go out), then the
// events, then the bus.
func (a *App) close() {
	a.Chat.StopAnnouncing() // the closed connections' last_seen and offline, while the store is open
	a.Calls.Close()         // calls end (and are recorded) while the store is open
	if a.Rooms != nil {
		a.Rooms.Shutdown() // participants hear room:closed; recordings are finished
		a.SFU.Close()
	}
	if err := a.Store.Close(); err != nil {
		a.Log.Error("closing store", "err", err)
	}
	a.Blobs.Close() // REST uploads have finished: nothing is in its upload folder
	if a.cluster != nil {
		a.cluster.Close() // leaves now, not after the TTL: what this node still held comes back
	}
	a.Chat.Close()
	a.Push.Close()
	if a.TURN != nil {
		a.TURN.Close()
	}
	a.Bus.Close()
	if a.redis != nil {
		a.redis.Close()
	}
}
