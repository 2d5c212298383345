// Package cascade carries a broadcast from the node whose SFU hosts it (the
// origin) to other nodes' SFUs (edges), so each edge's viewers are served
// by their own node and the origin sends one copy per edge, not one per
// viewer.
//
// The edge calls Pull: it offers a PeerConnection (DTLS-SRTP, on its SFU's
// UDP port) with one data channel and sends the offer through a Signal —
// over the bus in production — to the origin, which calls Accept. Accept
// joins the origin room as a sfu.Mirror (one hidden participant) and
// answers. Media tracks are negotiated afterwards over the data channel,
// always offered by the origin (one offerer, no glare): one m-line per
// layer of every track, with a description of each (publisher, track,
// RID, source). The edge publishes each layer it receives into its local
// room through a sfu.Feed, so local viewers are served by the edge SFU's
// normal path: their own simulcast layer choice, NACKs answered from the
// edge's cache, bandwidth estimation. A viewer's keyframe request goes to
// the origin as a PLI on the layer's stream, and from there to the
// publisher; packets lost on the link are NACKed by the edge (the SFU's
// NACK generator) and resent by the origin from its cache, with their
// sequence numbers unchanged (the link forwards packets as published).
//
// Every simulcast layer the edge's viewers watch is pulled, not one layer
// per edge. One layer per edge would save the origin up to a third of its
// upload per edge (q+h+f ≈ 2.15 Mbit/s against f's 1.5), but every viewer
// of that edge would then get the same layer: a viewer on a weak link
// would get nothing usable or force the whole edge down. The origin's
// upload per edge is a constant, independent of the number of viewers, so
// the extra is cheap. And it is only paid for layers somebody watches: the
// edge's dynacast (the layers its viewers want, as the SFU computes for a
// publisher) goes to the origin on the data channel, the origin stops
// sending the others to that edge (sfu.Mirror.SetIdle) and, if nobody
// else wants them, tells the publisher to stop encoding them. An edge
// whose viewers all watch the top layer pulls that layer alone. Measured
// in BENCHMARKS.md.
//
// When the origin's room ends, the origin says so on the data channel; if
// the origin node dies, ICE fails. Either way the Edge's Done channel
// closes and Err returns ErrOriginGone: the caller looks up the channel's
// new origin and pulls again.
package cascade
