// Package push sends Web Push notifications (RFC 8030, encrypted per RFC
// 8291, signed per RFC 8292 "VAPID") to the consoles of owners and agents
// who are not connected, so a visitor's message reaches them while the
// console is closed or a phone has suspended it. The browser's push service
// (Google's, Mozilla's, Apple's) delivers them; the server only needs its
// VAPID key pair, made on first start and kept in the database.
package push

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/parley-chat/parley/internal/apperr"
	"github.com/parley-chat/parley/internal/auth"
	"github.com/parley-chat/parley/internal/specialip"
	"github.com/parley-chat/parley/internal/store"
	"github.com/parley-chat/parley/protocol"
)

const (
	settingPrivate = "vapid_private"
	settingPublic  = "vapid_public"
	maxEndpoint    = 2048
	queueLen       = 1024
	maxBody        = 180 // characters of the message in the notification
)

// Config tunes push. Zero values take the defaults in brackets.
type Config struct {
	// Subject identifies the sender to push services (VAPID "sub"): a
	// mailto: or https: URL ["" = PublicURL].
	Subject string
	// PublicURL is the server's base URL, for links in notifications.
	PublicURL string
	// AllowPrivate lets endpoints resolve to loopback, private, shared,
	// link-local and unique-local addresses (tests, or a push service on
	// the operator's own network); other special-purpose addresses stay
	// refused. Off, the server never becomes a way to reach the operator's
	// network. [false]
	AllowPrivate bool
	// TTL is how long a push service keeps an undelivered message [1h].
	TTL time.Duration
	// Timeout bounds one delivery attempt [10s].
	Timeout time.Duration
	// Transport replaces the HTTP transport (tests: trust a test server's
	// certificate). Its dialer is wrapped with the private-address check.
	Transport *http.Transport
}

// Service holds the VAPID keys and sends notifications from one goroutine.
type Service struct {
	st     store.Store
	cfg    Config
	log    *slog.Logger
	online Online
	pub    string
	priv   string
	client *http.Client
	queue  chan job
	done   chan struct{}
	mu     sync.RWMutex // held shared while queueing, so Close cannot close the queue under a sender
	closed bool
	sent   sync.WaitGroup // pending jobs, for tests and shutdown
}

type job struct {
	accountID string
	payload   protocol.PushPayload
}

// Online reports, per user, whether they have a live connection on any
// node (chat.Service.Online): those are told by the console, not by push.
type Online func(ctx context.Context, userIDs ...string) ([]bool, error)

// New loads (or makes) the VAPID keys and starts the sender. online may be
// nil (everyone is notified).
func New(ctx context.Context, st store.Store, cfg Config, online Online, log *slog.Logger) (*Service, error) {
	if cfg.Subject == "" { // an https public URL, else a mailto: at its host
		cfg.Subject = cfg.PublicURL
		if u, err := url.Parse(cfg.PublicURL); err != nil || u.Scheme != "https" {
			h := "localhost"
			if err == nil && u.Hostname() != "" {
				h = u.Hostname()
			}
			cfg.Subject = "mailto:parley@" + h
		}
	}
	if cfg.TTL <= 0 {
		cfg.TTL = time.Hour
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	s := &Service{st: st, cfg: cfg, log: log, online: online, queue: make(chan job, queueLen), done: make(chan struct{})}
	if err := s.loadKeys(ctx); err != nil {
		return nil, err
	}
	tr := cfg.Transport
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	d := &net.Dialer{Timeout: cfg.Timeout, Control: s.checkAddr}
	tr.DialContext = d.DialContext
	tr.Proxy = nil // a proxy would hide the address the check must see
	s.client = &http.Client{Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	go s.run()
	return s, nil
}

func (s *Service) loadKeys(ctx context.Context) error {
	priv, err := s.st.GetSetting(ctx, settingPrivate)
	if err == nil {
		s.priv = priv
		s.pub, err = s.st.GetSetting(ctx, settingPublic)
		return err
	}
	if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("push: vapid key: %w", err)
	}
	if s.priv, s.pub, err = webpush.GenerateVAPIDKeys(); err != nil {
		return fmt.Errorf("push: vapid key: %w", err)
	}
	if err := s.st.PutSetting(ctx, settingPrivate, s.priv); err != nil {
		return err
	}
	return s.st.PutSetting(ctx, settingPublic, s.pub)
}

// checkAddr refuses connections to special-purpose addresses (package
// specialip), the local ones (loopback, private, link-local ...) unless
// allowed. It runs on the address actually dialled, after DNS, so a name
// that resolves inside cannot slip through.
func (s *Service) checkAddr(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if !specialip.AllowedIP(net.ParseIP(host), s.cfg.AllowPrivate) {
		return fmt.Errorf("push: endpoint address %s is not public", host)
	}
	return nil
}

// PublicKey is the applicationServerKey browsers subscribe with.
func (s *Service) PublicKey() string { return s.pub }

func staff(id auth.Identity) bool {
	return id.UserID != "" && (id.Role == protocol.RoleOwner || id.Role == protocol.RoleAgent)
}

// Subscribe stores the caller's browser subscription (owners and agents).
func (s *Service) Subscribe(ctx context.Context, id auth.Identity, sub protocol.PushSubscription) error {
	if !staff(id) {
		return apperr.Forbiddenf("only owners and agents receive push notifications")
	}
	u, err := url.Parse(sub.Endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || len(sub.Endpoint) > maxEndpoint || u.User != nil {
		return apperr.Invalidf("endpoint must be an https URL of at most %d bytes", maxEndpoint)
	}
	if k, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(sub.Keys.P256dh, "=")); err != nil || len(k) != 65 || k[0] != 4 {
		return apperr.Invalidf("keys.p256dh must be an uncompressed P-256 public key, base64url")
	}
	if a, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(sub.Keys.Auth, "=")); err != nil || len(a) != 16 {
		return apperr.Invalidf("keys.auth must be 16 bytes, base64url")
	}
	err = s.st.PutPushSubscription(ctx, store.PushSubscription{Endpoint: sub.Endpoint, AccountID: id.AccountID,
		UserID: id.UserID, P256dh: sub.Keys.P256dh, Auth: sub.Keys.Auth, CreatedAt: time.Now().UTC()})
	return apperr.Wrap("push.Subscribe", err)
}

// Unsubscribe removes one of the caller's subscriptions.
func (s *Service) Unsubscribe(ctx context.Context, id auth.Identity, endpoint string) error {
	if !staff(id) {
		return apperr.Forbiddenf("only owners and agents receive push notifications")
	}
	err := s.st.DeletePushSubscription(ctx, endpoint, id.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return apperr.NotFoundf("no such subscription of yours")
	}
	return apperr.Wrap("push.Unsubscribe", err)
}

// VisitorMessage queues a notification of a visitor's message to the
// account's staff who are not connected. It never blocks: when the queue
// is full the notification is dropped (the message itself is safe, and
// the console shows it when opened).
func (s *Service) VisitorMessage(accountID, convID, visitorName string, m protocol.Message) {
	body := m.Text
	switch {
	case m.DeletedAt != nil:
		return
	case m.Type == protocol.TypeImage && body == "":
		body = "Photo"
	case m.Type == protocol.TypeVoice:
		body = "Voice message"
	case m.Type == protocol.TypeFile && body == "":
		body = "File"
	}
	if utf8.RuneCountInString(body) > maxBody {
		body = string([]rune(body)[:maxBody-1]) + "…"
	}
	p := protocol.PushPayload{Title: visitorName, Body: body, ConversationID: convID,
		URL: s.cfg.PublicURL + "/console/#c=" + convID}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return
	}
	s.sent.Add(1)
	select {
	case s.queue <- job{accountID: accountID, payload: p}:
	default:
		s.sent.Done()
		s.log.Warn("push: queue full, notification dropped", "account", accountID)
	}
}

func (s *Service) run() {
	defer close(s.done)
	for j := range s.queue {
		s.deliver(j)
		s.sent.Done()
	}
}

func (s *Service) deliver(j job) {
	ctx := context.Background()
	subs, err := s.st.ListPushSubscriptions(ctx, j.accountID)
	if err != nil {
		s.log.Warn("push: subscriptions not loaded", "err", err)
		return
	}
	body, _ := json.Marshal(j.payload)
	connected := s.connected(ctx, subs)
	for i, sub := range subs {
		if connected[i] {
			continue // the open console tells them itself
		}
		s.send(ctx, sub, body, j.payload.ConversationID)
	}
}

// connected tells, per subscription, whether its user is connected
// anywhere, asking once. If that cannot be told, nobody is taken for
// connected: a notification too many beats one missed.
func (s *Service) connected(ctx context.Context, subs []store.PushSubscription) []bool {
	if s.online == nil || len(subs) == 0 {
		return make([]bool, len(subs))
	}
	users := make([]string, len(subs))
	for i, sub := range subs {
		users[i] = sub.UserID
	}
	on, err := s.online(ctx, users...)
	if err != nil || len(on) != len(subs) {
		s.log.Warn("push: presence unknown, notifying every subscription", "err", err)
		return make([]bool, len(subs))
	}
	return on
}

// send delivers one message; a subscription the push service says is gone
// (404, 410) is forgotten.
func (s *Service) send(ctx context.Context, sub store.PushSubscription, body []byte, topic string) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	resp, err := webpush.SendNotificationWithContext(ctx, body, &webpush.Subscription{
		Endpoint: sub.Endpoint, Keys: webpush.Keys{P256dh: sub.P256dh, Auth: sub.Auth},
	}, &webpush.Options{
		// The library adds "mailto:" to anything that is not an https URL.
		HTTPClient: s.client, Subscriber: strings.TrimPrefix(s.cfg.Subject, "mailto:"), VAPIDPublicKey: s.pub, VAPIDPrivateKey: s.priv,
		TTL: int(s.cfg.TTL.Seconds()), Urgency: webpush.UrgencyHigh, Topic: topicOf(topic),
	})
	if err != nil {
		s.log.Warn("push: not delivered", "endpoint", host(sub.Endpoint), "err", err)
		return
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		if err := s.st.DeletePushSubscription(ctx, sub.Endpoint, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Warn("push: expired subscription not removed", "err", err)
		}
	case resp.StatusCode >= 300:
		s.log.Warn("push: refused", "endpoint", host(sub.Endpoint), "status", resp.StatusCode)
	}
}

// topicOf makes a Topic header (≤ 32 URL-safe characters) from a
// conversation id, so a push service keeps only the newest undelivered
// notification per conversation.
func topicOf(convID string) string {
	t := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, convID)
	if len(t) > 32 {
		t = t[len(t)-32:]
	}
	return t
}

func host(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil {
		return u.Host
	}
	return ""
}

// Wait returns when every notification queued so far has been handled (tests).
func (s *Service) Wait() { s.sent.Wait() }

// Close stops the sender after what is queued.
func (s *Service) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	<-s.done
}
