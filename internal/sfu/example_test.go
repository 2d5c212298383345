package sfu_test

import (
	"encoding/json"
	"log"

	"github.com/parley-chat/parley/internal/sfu"
)

// How a transport wires a client to the SFU: signals and events go out as
// JSON over the client's connection; what the client sends comes back in
// through HandleSignal and the preference and mute calls.
func Example() {
	s, err := sfu.New(sfu.Config{UDPAddr: ":7882"})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	send := func(event string, v any) { b, _ := json.Marshal(v); log.Printf("%s %s", event, b) }
	p, err := s.Join("room-1", sfu.ParticipantOptions{
		ID: "conn-42", UserID: "user-7", Name: "Ada", CanPublish: true,
		OnSignal: func(sig sfu.Signal) { send("room:signal", sig) },
		OnEvent:  func(ev sfu.Event) { send("room:"+ev.Type, ev) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer p.Leave()

	// what is already there (events only carry changes)
	room, _ := s.Room("room-1")
	send("room:state", room)

	// the client's messages, as they arrive
	var fromClient sfu.Signal // e.g. {"pc":"pub","kind":"offer","sdp":"v=0..."}
	if err := p.HandleSignal(fromClient); err != nil {
		send("error", err.Error())
	}
	_ = p.SetTrackPreference("their-camera-track-id", 320, 180, false) // a small tile
	_ = p.SetMuted("my-mic-track-id", true)
}
