// Package server is Provost's HTTP API over gin: the AuthZEN 1.0 decision
// routes and the management routes. Handlers decode, call the engine
// through small interfaces and encode; every error becomes
// {"error":{"code","message"}} in one place (errors.go). Decisions never
// answer 5xx: an evaluation error is a deny with context.error.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/metrics"
	"github.com/provost-lms/provost/internal/store"
)

// MaxBody is the limit of every request body but the import's.
const MaxBody = 1 << 20

// MaxImportBody is the limit of the CSV import body.
const MaxImportBody = 1 << 30

// Config configures a Server.
type Config struct {
	// Addr is the listen address; decisions need no token when it is loopback.
	Addr string
	// AdminToken (PROVOST_ADMIN_TOKEN) has every right.
	AdminToken string
	// Tokens are further tokens (from --tokens-file).
	Tokens []Token
	// AllowAnonymousDecisions opens the decision routes on any address.
	AllowAnonymousDecisions bool
	ReadTimeout             time.Duration
	WriteTimeout            time.Duration
	Logger                  *slog.Logger
	// Metrics, when set, counts HTTP requests by route, serves GET /metrics
	// and takes the pack's actions from the engine (action labels).
	Metrics *metrics.Metrics
	// Ready, when set, is asked by GET /readyz after the policy and store
	// checks (plugins up); a non-nil error makes the server not ready.
	Ready func() error
	// Plugins, when set, lists the plugins for GET /v1/status.
	Plugins func() []PluginStatus
}

// Decider answers AuthZEN evaluations and searches.
type Decider interface {
	Decide(ctx context.Context, req *engine.Request) engine.Decision
	SearchSubjects(ctx context.Context, req *engine.Request, page engine.Page) (engine.SearchResult, error)
	SearchResources(ctx context.Context, req *engine.Request, page engine.Page) (engine.SearchResult, error)
	SearchActions(ctx context.Context, req *engine.Request, page engine.Page) (engine.SearchResult, error)
}

// Server is the HTTP API.
type Server struct {
	cfg      Config
	log      *slog.Logger
	decider  Decider
	engine   *engine.Engine
	store    store.Store
	tokens   *tokenSet
	loopback bool
	router   *gin.Engine
	http     *http.Server
}

// New builds the server and its routes.
func New(cfg Config, e *engine.Engine, st store.Store) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 30 * time.Second
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = 60 * time.Second
	}
	gin.SetMode(gin.ReleaseMode)
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		decider:  e,
		engine:   e,
		store:    st,
		tokens:   newTokenSet(cfg.AdminToken, cfg.Tokens),
		loopback: IsLoopback(cfg.Addr),
		router:   gin.New(),
	}
	s.router.HandleMethodNotAllowed = true
	s.router.ContextWithFallback = true
	if cfg.Metrics != nil {
		// First, to see the status a panic or an abort leaves.
		s.router.Use(s.observeHTTP)
		if e != nil {
			cfg.Metrics.SetActions(e.Actions)
		}
	}
	s.router.Use(s.recoverer, s.requestContext)
	s.router.NoRoute(func(c *gin.Context) {
		writeError(c, errors.Join(engine.ErrNotFound, errors.New("no route "+c.Request.Method+" "+c.Request.URL.Path)))
	})
	s.router.NoMethod(func(c *gin.Context) {
		c.AbortWithStatusJSON(http.StatusMethodNotAllowed, gin.H{"error": APIError{Code: "method_not_allowed", Message: c.Request.Method + " is not allowed on " + c.Request.URL.Path}})
	})
	s.routes()
	s.http = &http.Server{
		Handler:           s.router,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s
}

// Handler returns the HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.router }

// Routes lists every registered route as "METHOD path".
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.router.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting requests and waits for those in flight.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

type ctxKey int

const loggerKey ctxKey = 1

// loggerFrom returns the request's logger, or slog's default.
func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// requestContext echoes X-Request-ID and puts a logger in the context.
func (s *Server) requestContext(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if id != "" {
		if len(id) > 200 {
			id = id[:200]
		}
		c.Header("X-Request-ID", id)
	}
	l := s.log
	if id != "" {
		l = l.With("request_id", id)
	}
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), loggerKey, l))
	c.Next()
}

// recoverer turns a panic into a 500 JSON error and logs it.
func (s *Server) recoverer(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			loggerFrom(c.Request.Context()).Error("panic", "panic", r, "route", c.FullPath())
			writeError(c, errors.New("panic"))
		}
	}()
	c.Next()
}
