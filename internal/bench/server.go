package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/parley-chat/parley/internal/app"
	"github.com/parley-chat/parley/internal/config"
)

// serverMain is "parley bench server [--profile-dir DIR] SERVER-FLAGS": the
// same server as "parley serve", plus CPU profiling of a chosen window for
// `bench chat --profile-dir`. SIGUSR1 starts a profile into DIR/cpu.prof;
// SIGUSR2 stops it and renames the file to DIR/cpu.done. SIGHUP writes the
// in-use heap after a GC to DIR/heap.prof and logs the runtime's memory
// statistics (what RSS is made of: live heap, stacks, unreturned spans). The headline
// figures come from plain "parley serve"; this exists for profiles.
func serverMain(args []string, stdout, stderr io.Writer) error {
	var profileDir string
	if len(args) >= 2 && (args[0] == "--profile-dir" || args[0] == "-profile-dir") {
		profileDir, args = args[1], args[2:]
	}
	cfg, rest, err := config.Load(args, os.Environ())
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, "usage: parley bench server [--profile-dir DIR] [server flags]\n\n"+config.Usage())
		return err
	}
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %q", rest)
	}
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if profileDir != "" {
		if err := os.MkdirAll(profileDir, 0o750); err != nil {
			return err
		}
		go profileOnSignal(ctx, profileDir, log)
	}
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	return a.Serve(ctx, ln)
}

func profileOnSignal(ctx context.Context, dir string, log *slog.Logger) {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP)
	defer signal.Stop(sig)
	var f *os.File
	path := filepath.Join(dir, "cpu.prof")
	for {
		select {
		case <-ctx.Done():
			if f != nil {
				pprof.StopCPUProfile()
				f.Close()
			}
			return
		case s := <-sig:
			switch {
			case s == syscall.SIGHUP:
				writeHeapProfile(dir, log)
			case s == syscall.SIGUSR1 && f == nil:
				var err error
				if f, err = os.Create(path); err != nil {
					log.Warn("cpu profile", "err", err)
					f = nil
					continue
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					log.Warn("cpu profile", "err", err)
					f.Close()
					f = nil
				}
			case s == syscall.SIGUSR2 && f != nil:
				pprof.StopCPUProfile()
				f.Close()
				f = nil
				os.Rename(path, filepath.Join(dir, "cpu.done"))
			}
		}
	}
}

// writeHeapProfile writes the in-use heap (after a GC) to DIR/heap.prof.
func writeHeapProfile(dir string, log *slog.Logger) {
	runtime.GC()
	f, err := os.Create(filepath.Join(dir, "heap.prof"))
	if err != nil {
		log.Warn("heap profile", "err", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		log.Warn("heap profile", "err", err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	log.Warn("heap profile written", "heap_inuse", ms.HeapInuse, "heap_alloc", ms.HeapAlloc, "heap_sys", ms.HeapSys, "heap_released", ms.HeapReleased, "stack_inuse", ms.StackInuse, "sys", ms.Sys, "goroutines", runtime.NumGoroutine(), "num_gc", ms.NumGC)
}
