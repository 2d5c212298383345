package client

import "testing"

func TestIsReply(t *testing.T) {
	for in, want := range map[string]bool{
		`{"event":"chat:message","data":{}}`:       false,
		`{"event":"chat:send","id":"1","data":{}}`: true,
		`{"event":"error","id":"x","data":{}}`:     true,
		`{"event":"error","data":{}}`:              false,
		`{"data":{},"event":"chat:message"}`:       true, // unusual order: decoded
		`{"event":"chat:x"}`:                       false,
	} {
		if got := isReply([]byte(in)); got != want {
			t.Errorf("isReply(%s) = %v, want %v", in, got, want)
		}
	}
}
