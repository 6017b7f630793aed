package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
)

// routes registers every route. Decision routes: authzen.go; management
// routes: manage.go; the OpenAPI document: openapi.go.
func (s *Server) routes() {
	r := s.router
	r.UseRawPath = true
	r.UnescapePathValues = true
	r.Use(pathParams)

	r.GET("/.well-known/authzen-configuration", s.metadata)
	r.GET("/openapi.json", s.openapi)
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", s.serveMetrics)

	dec := r.Group("/access/v1", s.limitBody(MaxBody), s.decisionAuth)
	dec.POST("/evaluation", s.evaluation)
	dec.POST("/evaluations", s.evaluations)
	dec.POST("/search/subject", s.searchSubject)
	dec.POST("/search/resource", s.searchResource)
	dec.POST("/search/action", s.searchAction)

	v1 := r.Group("/v1", s.limitBody(MaxBody), s.requireScope(ScopeManage))
	v1.PUT("/users/:id", s.putUser)
	v1.GET("/users/:id", s.getUser)
	v1.DELETE("/users/:id", s.deleteUser)
	v1.PUT("/users/:id/org-roles/:role", s.putOrgRoles)
	v1.PUT("/resources/:type/:id", s.putResource)
	v1.GET("/resources/:type/:id", s.getResource)
	v1.DELETE("/resources/:type/:id", s.deleteResource)
	v1.POST("/roles/grant", s.grantRole)
	v1.POST("/roles/revoke", s.revokeRole)
	v1.GET("/roles", s.listRoles)
	v1.PUT("/course-creators/:user", s.putCourseCreator)
	v1.GET("/course-creators/:user", s.getCourseCreator)
	v1.POST("/course-creators/:user/request", s.requestCourseCreator)
	v1.GET("/audit", s.listAudit)
	v1.GET("/status", s.status)

	imp := r.Group("/v1", s.limitBody(MaxImportBody), s.requireScope(ScopeAdmin))
	imp.POST("/import/course-access-roles", s.importCSV)
	r.POST("/v1/policy/reload", s.limitBody(MaxBody), s.requireScope(ScopeAdmin), s.reloadPolicy)
}

// healthz answers 200 while the process serves.
func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// limitBody answers 413 for a declared length over limit and caps the body
// read at limit (a longer chunked body fails with 413 when read).
func (s *Server) limitBody(limit int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > limit {
			writeError(c, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, c.Request.ContentLength, limit))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		c.Next()
	}
}

// decisionAuth lets decisions through on a loopback address (an
// Authorization header there is ignored) or with --allow-anonymous-decisions;
// elsewhere it needs a token with the decide scope.
func (s *Server) decisionAuth(c *gin.Context) {
	if s.loopback || s.cfg.AllowAnonymousDecisions {
		c.Next()
		return
	}
	s.requireScope(ScopeDecide)(c)
}

// tokenKey is the gin context key of the request's token.
const tokenKey = "provost.token"

// requireScope answers 401 without a valid bearer token and 403 when the
// token lacks scope.
func (s *Server) requireScope(scope string) gin.HandlerFunc {
	return func(c *gin.Context) {
		tok := s.tokens.lookup(bearer(c.GetHeader("Authorization")))
		if tok == nil {
			c.Header("WWW-Authenticate", `Bearer realm="provost"`)
			writeError(c, ErrUnauthorized)
			return
		}
		if !tok.Has(scope) {
			writeError(c, fmt.Errorf("%w: token %q has scopes %v, the route needs %q", ErrNoScope, tok.Name, tok.Scopes, scope))
			return
		}
		c.Set(tokenKey, tok)
		c.Next()
	}
}

// requireAdminFor checks that a write without a caller (a system change)
// comes with an admin token. It answers and returns false otherwise.
func (s *Server) requireAdminFor(c *gin.Context, caller string) bool {
	if caller != "" {
		return true
	}
	if tok, ok := c.Get(tokenKey); ok && tok.(*Token).Has(ScopeAdmin) {
		return true
	}
	writeError(c, errors.Join(ErrNoScope, errors.New("a write without caller is a system change: it needs an admin token")))
	return false
}

// pathParams unescapes path values with path rules: gin unescapes raw paths
// as query strings, turning '+' (as in course-v1:Marvel+CS101+2026) into a
// space.
func pathParams(c *gin.Context) {
	if raw := c.Request.URL.RawPath; raw != "" {
		route, segs := strings.Split(c.FullPath(), "/"), strings.Split(raw, "/")
		if len(segs) == len(route) {
			for i, seg := range route {
				name, ok := strings.CutPrefix(seg, ":")
				if !ok {
					continue
				}
				if v, err := url.PathUnescape(segs[i]); err == nil {
					for j := range c.Params {
						if c.Params[j].Key == name {
							c.Params[j].Value = v
						}
					}
				}
			}
		}
	}
	c.Next()
}
