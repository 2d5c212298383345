package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		var out bytes.Buffer
		if err := run(args, &out, &out); err != nil {
			t.Fatalf("parley %v: %v", args, err)
		}
		if !strings.HasPrefix(out.String(), "parley ") || !strings.Contains(out.String(), "go1.") {
			t.Fatalf("parley %v printed %q, want a version line", args, out.String())
		}
	}
}

// --help states the settings' precedence once.
func TestHelpStatesPrecedenceOnce(t *testing.T) {
	var out bytes.Buffer
	run([]string{"--help"}, &out, &out)
	if n := strings.Count(out.String(), "precedence"); n != 1 {
		t.Fatalf("--help mentions precedence %d times:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "parley version") {
		t.Fatal("--help does not list parley version")
	}
}

// signin-link run with nothing but the data directory prints a link to the
// server as it was started (here on a port of its own), not localhost:8080.
func TestSigninLinkUsesTheRunningServersURL(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	var serveOut bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"serve", "--data-dir", dir, "--addr", addr, "--turn-enabled=false", "--sfu-udp-addr="}, &serveOut, &serveOut)
	}()
	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get(base + "/"); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, serveOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// serve stops on SIGINT (signal.NotifyContext), as it does for a person.
	defer func() {
		syscall.Kill(os.Getpid(), syscall.SIGINT)
		<-done
	}()

	var out bytes.Buffer
	if err := run([]string{"signin-link", "--data-dir", dir}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if link := strings.TrimSpace(out.String()); !strings.HasPrefix(link, base+"/console/#signin=") {
		t.Fatalf("signin-link printed %q, want a link under %s", link, base)
	}
}
