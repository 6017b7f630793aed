package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/metrics"
)

// CodeNotReady is the error code of /readyz while the server is not ready.
const CodeNotReady = "not_ready"

// opsTimeout bounds the store reads of /readyz and /v1/status.
const opsTimeout = 2 * time.Second

// PluginStatus is one plugin in /v1/status.
type PluginStatus struct {
	Name     string `json:"name"`
	Up       bool   `json:"up"`
	Restarts int    `json:"restarts"`
}

// LastReload is the outcome of the last policy load in /v1/status.
type LastReload struct {
	Result string    `json:"result"` // engine.ReloadSuccess or engine.ReloadFailure
	Error  string    `json:"error"`
	At     time.Time `json:"at"`
}

// Status is the body of GET /v1/status.
type Status struct {
	Pack       string           `json:"pack"`
	Revision   string           `json:"revision"`
	LoadedAt   time.Time        `json:"loaded_at"`
	LastReload LastReload       `json:"last_reload"`
	Plugins    []PluginStatus   `json:"plugins"`
	Counts     map[string]int64 `json:"counts"`
}

// observeHTTP counts every request by route template (UnmatchedRoute when
// no route matched) and status code, after the handlers ran.
func (s *Server) observeHTTP(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = metrics.UnmatchedRoute
	}
	s.cfg.Metrics.ObserveHTTP(route, c.Writer.Status(), time.Since(start))
}

// serveMetrics serves the Prometheus metrics, with the revision info refreshed
// from the engine; 404 when the server has no metrics.
func (s *Server) serveMetrics(c *gin.Context) {
	m := s.cfg.Metrics
	if m == nil {
		writeError(c, errors.Join(engine.ErrNotFound, errors.New("metrics are not enabled")))
		return
	}
	m.SetRevision(s.engine.Pack(), s.engine.Revision())
	m.Handler().ServeHTTP(c.Writer, c.Request)
}

// readyz answers 200 when the policy is loaded, the store answers and
// Config.Ready (plugins) has no objection, 503 not_ready otherwise.
func (s *Server) readyz(c *gin.Context) {
	if err := s.ready(c.Request.Context()); err != nil {
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, gin.H{"error": APIError{Code: CodeNotReady, Message: err.Error()}})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

func (s *Server) ready(ctx context.Context) error {
	if s.engine == nil || s.engine.Revision() == "" {
		return errors.New("no policy loaded")
	}
	ctx, cancel := context.WithTimeout(ctx, opsTimeout)
	defer cancel()
	if _, err := s.store.Stats(ctx); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if s.cfg.Ready != nil {
		return s.cfg.Ready()
	}
	return nil
}

// status answers the policy in use, the last reload, the plugins and the
// counts: users, assignments and resources as served (engine), audit
// entries and the data file's size (store; left out if the store fails).
func (s *Server) status(c *gin.Context) {
	es := s.engine.Status(c.Request.Context())
	st := Status{
		Pack:       es.Pack,
		Revision:   es.Revision,
		LoadedAt:   es.LoadedAt,
		LastReload: LastReload{Result: es.LastReload.Result, Error: es.LastReload.Error, At: es.LastReload.At},
		Plugins:    []PluginStatus{},
		Counts:     map[string]int64{},
	}
	if st.LastReload.Result == "" { // no reload yet: the start-up load succeeded
		st.LastReload = LastReload{Result: engine.ReloadSuccess, At: es.LoadedAt}
	}
	if s.cfg.Plugins != nil {
		if ps := s.cfg.Plugins(); ps != nil {
			st.Plugins = ps
		}
	}
	for k, v := range es.Counts {
		st.Counts[k] = int64(v)
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), opsTimeout)
	defer cancel()
	if ss, err := s.store.Stats(ctx); err == nil {
		st.Counts["audit_entries"] = int64(ss.AuditLength)
		st.Counts["store_bytes"] = ss.FileBytes
	} else {
		loggerFrom(c.Request.Context()).Warn("status: store stats", "err", err)
	}
	c.JSON(http.StatusOK, st)
}
