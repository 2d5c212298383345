package inbox

import (
	"crypto/rand"
)

// AddressLen is the length of an inbox address.
const AddressLen = 8

const addressAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewAddress returns 8 characters drawn uniformly from A-Z a-z 0-9 by
// crypto/rand: 62^8 ≈ 2.2·10^14 addresses, which with rate-limited lookups
// cannot be enumerated.
func NewAddress() string {
	var out [AddressLen]byte
	var buf [16]byte
	n := 0
	for n < AddressLen {
		rand.Read(buf[:]) // never fails on Linux (Go 1.24+ crashes rather than return an error)
		for _, b := range buf {
			// 248 = 4·62: bytes at or above it are dropped, so every
			// character is equally likely (no modulo bias).
			if b >= 248 {
				continue
			}
			out[n] = addressAlphabet[b%62]
			if n++; n == AddressLen {
				break
			}
		}
	}
	return string(out[:])
}

// ValidAddress reports whether s has the form of an address.
func ValidAddress(s string) bool {
	if len(s) != AddressLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
