package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-chat/parley/client"
	"github.com/parley-chat/parley/protocol"
)

// TestSendersOnTwoNodesReaderOnThird runs three parley processes: Alice
// sends through node A and Bob through node B, several connections each,
// all at once, into one conversation. Carol on node C, who resumed with
// chat:sync after the first messages, sees every seq exactly once and in
// order: the replay, then the live messages, with no gap. Each node's
// writer publishes its own commits, so node C receives some of them
// crossed and puts them back in order (the hub's hold-back).
func TestSendersOnTwoNodesReaderOnThird(t *testing.T) {
	c := newCluster(t, 3)
	a, b, cn := c.nodes[0], c.nodes[1], c.nodes[2]
	aliceTok, bobTok := c.token("alice"), c.token("bob")
	alice := listen(t, a, aliceTok)
	listen(t, b, bobTok) // bob exists before the group names him
	listen(t, cn, c.token("carol")).Close()
	conv, err := alice.Create(context.Background(), protocol.CreateConversationRequest{Kind: protocol.KindGroup, Name: "order", Members: []string{"bob", "carol"}})
	if err != nil {
		t.Fatal(err)
	}

	const perConn, conns, before = 40, 3, 20
	var senders []*client.Conn
	for range conns {
		senders = append(senders, listen(t, a, aliceTok), listen(t, b, bobTok))
	}
	send := func(s *client.Conn, text string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := s.Send(ctx, protocol.SendRequest{ConversationID: conv.ID, Text: text})
		return err
	}
	for i := range before {
		if err := send(senders[i%len(senders)], fmt.Sprint("before", i)); err != nil {
			t.Fatal(err)
		}
	}

	carol := listen(t, cn, c.token("carol"))
	msgs, _, err := carol.Sync(context.Background(), map[string]int64{conv.ID: 0})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != before {
		t.Fatalf("carol's sync replayed %d messages, want %d", len(msgs), before)
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(senders))
	for i, s := range senders {
		wg.Go(func() {
			for j := range perConn {
				if err := send(s, fmt.Sprint(i, "/", j)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	total := before + len(senders)*perConn
	for want := int64(1); want <= int64(total); want++ {
		if m := nextMessage(t, carol, conv.ID); m.Seq != want {
			t.Fatalf("carol on node C: seq %d where %d was next", m.Seq, want)
		}
	}
	noMessage(t, carol, conv.ID, 300*time.Millisecond)
}
