// Package sfu is Parley's selective forwarding unit: the media core of group
// calls and broadcasts. It knows rooms, participants and tracks, and nothing
// of WebSocket, REST or accounts: a transport package carries Signals and
// Events to the clients and calls Join, HandleSignal and Leave.
//
// # Two PeerConnections per participant
//
// Each participant has a pub PeerConnection, which its client offers and
// which carries its own media up, and a sub PeerConnection, which the SFU
// offers and which carries everyone else's media down (the LiveKit model).
// With a single PeerConnection both sides would offer as tracks come and go
// — the client when it starts its camera, the SFU when somebody else
// publishes — and offers would cross (glare), needing rollback or the
// perfect-negotiation dance on both sides. With the pair, each connection has
// one offerer: the client renegotiates pub whenever it likes, the SFU
// renegotiates sub (one offer at a time; changes made while an offer is out
// go in the next one). A broadcast viewer has no pub connection at all.
// Candidates the SFU gathers are held back until the SDP they belong to has
// been sent, so a client never gets a candidate before its description.
//
// All PeerConnections share one webrtc.API: one UDP port (ICE UDP mux), one
// MediaEngine (VP8 with RTX, Opus; audio level, transport-wide CC, mid, rid
// and repaired-rid header extensions) and the interceptors the SFU wants:
// NACK generation, receiver reports and TWCC feedback toward publishers,
// sender reports toward subscribers. Pion's NACK responder and TWCC
// sequence-number interceptor are not used: a subscriber's sequence numbers
// are rewritten, so the SFU answers its NACKs itself and stamps the TWCC
// sequence number itself.
//
// # The forwarding path
//
// A published track has one layer per simulcast encoding (q, h, f by RID; a
// plain track has one). Each layer has a read goroutine that reads a packet
// into a slot of the layer's packet cache (a ring by sequence number, used to
// answer NACKs), parses the header once, checks once whether it starts a VP8
// keyframe and reads the audio level, and then calls every downtrack in
// turn. A downtrack is the track as one subscriber gets it: a
// webrtc.TrackLocal bound to the subscriber's sub connection with its own
// SSRC. It forwards only packets of the layer it is on; it switches to its
// target layer at the first packet of a keyframe of that layer, continuing its
// sequence numbers (offset recomputed at the switch, and bumped when a
// padding-only packet is dropped) and timestamps (offset recomputed from the
// wall-clock gap). It keeps a short history, rewritten sequence number →
// (layer, original sequence number, rewritten timestamp), to resend from the
// cache when the subscriber NACKs — as RTX when negotiated.
//
// The per-packet cost is per packet per subscriber: the rewrite (about 100 ns,
// no allocation: the header, extension buffers and RTX buffer live in the
// downtrack), then pion's send path — the sender-report interceptor, SRTP
// encryption and a datagram through the ICE mux. Sending dominates (see
// BenchmarkForwardSRTP), so the SFU's sockets (batchConn) queue the
// datagrams written during a fan-out and send them with one sendmmsg when it
// ends: one system call per packet instead of one per subscriber. Pion's gcc
// estimator, which each subscriber's writes pass through so it can match
// TWCC feedback to sent packets, records every packet in a list and a map:
// two allocations per video packet per subscriber, the only ones on the path
// (audio does not go through it).
//
// With a UDPAddr without host, the SFU opens one socket per interface
// address on the shared port (pion's multi mux) rather than one socket on
// the unspecified address, whose replies the kernel may send from another
// address than the candidate the peer checked.
//
// # Control
//
// Each room has one housekeeping goroutine. Every 300 ms it smooths the
// audio levels and emits active_speakers when the order changes; every
// 900 ms it measures layer bitrates, chooses each subscriber's layer (the
// smallest covering the size it asked for with SetTrackPreference, stepped
// down while its share of the subscriber's gcc estimate or Config.MaxBitrate
// is exceeded; gcc never estimates above 1.5× what arrives, so a subscriber
// whose estimate sits at that ceiling tries the next layer up for 4 s),
// asks for a keyframe where a switch is pending (at most one PLI per layer
// per Config.PLIInterval), tells simulcast publishers which layers somebody
// watches or whose size asks for (layers_wanted, dynacast: a layer the
// browser never started is asked for by its usual RID) and sends
// MaxBitrate as REMB. Subscribers' PLI and FIR go to the publisher under the same limit.
//
// Events and signals for one participant go through one queue and one
// goroutine, so they arrive in order and a slow consumer does not block the
// forwarding path.
//
// # Cascade
//
// Two SFUs can share a broadcast (package cascade carries it): on the
// origin, a Mirror is one hidden participant that gets every layer of
// every track as published (original sequence numbers and timestamps,
// padding included), from the same fan-out as the downtracks, and keeps
// those layers on (SetIdle passes the edge's dynacast back); on the edge, a Feed is a participant without a
// PeerConnection whose layers the caller writes packets into — they are
// cached and fanned out to the edge's subscribers exactly as a client's
// are, and keyframe requests go to the Feed's callback instead of a PLI.
package sfu
