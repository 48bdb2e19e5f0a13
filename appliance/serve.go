package appliance

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/keywarden/keywarden/appliance/api"
)

// shutdownGrace bounds how long in-flight requests may take to finish when the
// appliance stops (SIGTERM must complete within 5 s in total).
const shutdownGrace = 2 * time.Second

// serve starts the HTTPS API on the configured address.
func (a *Appliance) serve() (*http.Server, error) {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", a.cfg.Listen, err)
	}
	if a.api == nil {
		a.api = api.New(a, a.log.With("component", "api"))
	}
	srv := &http.Server{
		Handler:           a.api,
		TLSConfig:         a.tls.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// TLS handshake noise from scanners is not worth a warning.
		ErrorLog: log.New(slogWriter{a.log.With("component", "http")}, "", 0),
	}
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("API server stopped", "err", err)
		}
	}()
	return srv, nil
}

func (a *Appliance) stopServing(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
}

// reportReady tells systemd and the log that the API serves.
func (a *Appliance) reportReady() {
	st, reason := a.State()
	a.log.Info("API serving", "url", "https://"+a.cfg.Listen+api.Prefix, "state", st, "reason", reason,
		"startup", time.Since(a.started).Round(time.Millisecond).String())
	_ = a.notify.Ready()
}

// slogWriter adapts net/http's error log to slog at debug level.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.log.Debug(string(p))
	return len(p), nil
}
