package wiretest

import (
	"strings"
	"testing"
)

func BenchmarkCheckMessage(b *testing.B) {
	v := Default()
	f := []byte(`{"event":"chat:message","data":{"id":"msg_1","conversation_id":"cnv_1","seq":1,"sender_id":"usr_1","type":"text","text":"` + strings.Repeat("p", 4000) + `","created_at":"2026-01-01T12:00:00.123Z"}}`)
	for b.Loop() {
		if err := v.Check(f, ""); err != nil {
			b.Fatal(err)
		}
	}
}
