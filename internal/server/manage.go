package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/importer"
	"github.com/provost-lms/provost/internal/scope"
	"github.com/provost-lms/provost/internal/store"
)

// Management routes (SPEC section 5). Handlers decode, check the token's
// right to a write without caller, call the engine or the store, and
// encode; the engine checks a caller's authority with the pack.

// Page sizes of the audit listing.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

// userBody is the body of PUT /v1/users/{id}. is_active is true when absent.
type userBody struct {
	Email       string         `json:"email"`
	Username    string         `json:"username"`
	IsActive    *bool          `json:"is_active"`
	IsStaff     bool           `json:"is_staff"`
	IsSuperuser bool           `json:"is_superuser"`
	Language    string         `json:"language"`
	Attributes  map[string]any `json:"attributes"`
}

// roleBody is the body of the grant and revoke routes.
type roleBody struct {
	User   string `json:"user"`
	Role   string `json:"role"`
	Scope  string `json:"scope"`
	Caller string `json:"caller"`
}

// orgRolesBody is the body of PUT /v1/users/{id}/org-roles/{role}.
type orgRolesBody struct {
	Orgs   *[]string `json:"orgs"`
	Caller string    `json:"caller"`
}

// creatorBody is the body of PUT /v1/course-creators/{user}.
type creatorBody struct {
	State            string   `json:"state"`
	AllOrganizations bool     `json:"all_organizations"`
	Organizations    []string `json:"organizations"`
	Caller           string   `json:"caller"`
}

// callerBody is the optional body of POST /v1/course-creators/{user}/request.
type callerBody struct {
	Caller string `json:"caller"`
}

// auditEntry is one entry of GET /v1/audit.
type auditEntry struct {
	Time    time.Time      `json:"time"`
	Caller  string         `json:"caller"`
	Action  string         `json:"action"`
	Target  string         `json:"target"`
	Details map[string]any `json:"details"`
}

func (s *Server) putUser(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok {
		return
	}
	var b userBody
	if err := decodeJSON(c, &b); err != nil {
		writeError(c, err)
		return
	}
	if !s.requireAdminFor(c, "") {
		return
	}
	u := store.User{ID: id, Email: b.Email, Username: b.Username, IsActive: b.IsActive == nil || *b.IsActive,
		IsStaff: b.IsStaff, IsSuperuser: b.IsSuperuser, Language: b.Language, Attributes: b.Attributes}
	if err := s.engine.PutUser(c.Request.Context(), u, ""); err != nil {
		writeError(c, err)
		return
	}
	s.respondUser(c, id)
}

func (s *Server) getUser(c *gin.Context) {
	if id, ok := pathID(c, "id"); ok {
		s.respondUser(c, id)
	}
}

func (s *Server) respondUser(c *gin.Context, id string) {
	u, err := s.engine.User(id)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, u)
}

func (s *Server) deleteUser(c *gin.Context) {
	id, ok := pathID(c, "id")
	if !ok || !s.requireAdminFor(c, "") {
		return
	}
	if err := s.engine.DeleteUser(c.Request.Context(), id, ""); err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": true})
}

func (s *Server) putOrgRoles(c *gin.Context) {
	user, ok := pathID(c, "id")
	if !ok {
		return
	}
	role, ok := pathID(c, "role")
	if !ok {
		return
	}
	var b orgRolesBody
	if err := decodeJSON(c, &b); err != nil {
		writeError(c, err)
		return
	}
	if b.Orgs == nil {
		writeError(c, fmt.Errorf("%w: orgs is missing: want a list of orgs ([] removes the role from every org)", ErrBadRequest))
		return
	}
	if err := s.validateOrgRoles(c, user, role, *b.Orgs); err != nil {
		writeError(c, err)
		return
	}
	if !s.requireAdminFor(c, b.Caller) {
		return
	}
	if err := s.engine.SetOrgRoles(c.Request.Context(), user, role, *b.Orgs, b.Caller); err != nil {
		writeError(c, err)
		return
	}
	orgs := []string{}
	err := s.store.ForEachAssignment(c.Request.Context(), store.AssignmentFilter{User: user, Role: role}, func(a store.Assignment) error {
		if org, ok := strings.CutPrefix(a.Scope, scope.Org+":"); ok {
			orgs = append(orgs, org)
		}
		return nil
	})
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"user": user, "role": role, "orgs": orgs})
}

// validateOrgRoles checks every org scope of an org-roles body (and the
// role at org scope when the list is empty) before the token's right.
func (s *Server) validateOrgRoles(c *gin.Context, user, role string, orgs []string) error {
	if len(orgs) == 0 {
		orgs = []string{"any"}
	}
	for _, o := range orgs {
		if err := s.engine.ValidateAssignment(c.Request.Context(), store.Assignment{User: user, Role: role, Scope: scope.Org + ":" + o}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) putResource(c *gin.Context) {
	typ, id, ok := resourcePath(c)
	if !ok {
		return
	}
	var b struct {
		Properties json.RawMessage `json:"properties"`
	}
	if err := decodeJSON(c, &b); err != nil {
		writeError(c, err)
		return
	}
	var props map[string]any
	if p := bytes.TrimSpace(b.Properties); len(p) == 0 || p[0] != '{' || json.Unmarshal(p, &props) != nil {
		writeError(c, fmt.Errorf("%w: properties must be a JSON object", ErrBadRequest))
		return
	}
	if !s.requireAdminFor(c, "") {
		return
	}
	r := store.Resource{Type: typ, ID: id, Properties: props}
	if err := s.engine.PutResource(c.Request.Context(), r, ""); err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

func (s *Server) getResource(c *gin.Context) {
	typ, id, ok := resourcePath(c)
	if !ok {
		return
	}
	r, err := s.store.GetResource(c.Request.Context(), typ, id)
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, r)
}

func (s *Server) deleteResource(c *gin.Context) {
	typ, id, ok := resourcePath(c)
	if !ok || !s.requireAdminFor(c, "") {
		return
	}
	if err := s.engine.DeleteResource(c.Request.Context(), typ, id, ""); err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"deleted": true})
}

// grantRole answers 201 for a new assignment and 200 for one already held.
// Checks run in the SPEC's order: 413 and 401 (middleware), 400, 403, 409.
func (s *Server) grantRole(c *gin.Context) {
	a, caller, ok := s.roleChange(c)
	if !ok {
		return
	}
	created, err := s.engine.Grant(c.Request.Context(), a, caller)
	if err != nil {
		writeError(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, a)
}

// revokeRole answers 200, also for a role not held.
func (s *Server) revokeRole(c *gin.Context) {
	a, caller, ok := s.roleChange(c)
	if !ok {
		return
	}
	if _, err := s.engine.Revoke(c.Request.Context(), a, caller); err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, a)
}

// roleChange decodes and validates a grant or revoke body, then checks the
// token's right to a write without caller. It answers and returns false on
// failure.
func (s *Server) roleChange(c *gin.Context) (store.Assignment, string, bool) {
	var b roleBody
	if err := decodeJSON(c, &b); err != nil {
		writeError(c, err)
		return store.Assignment{}, "", false
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"user", b.User}, {"role", b.Role}, {"scope", b.Scope}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		writeError(c, fmt.Errorf("%w: missing or empty: %s", ErrBadRequest, strings.Join(missing, ", ")))
		return store.Assignment{}, "", false
	}
	a := store.Assignment{User: b.User, Role: b.Role, Scope: b.Scope}
	err := checkID("user", a.User)
	if err == nil {
		err = s.engine.ValidateAssignment(c.Request.Context(), a)
	}
	if err != nil {
		writeError(c, err)
		return store.Assignment{}, "", false
	}
	return a, b.Caller, s.requireAdminFor(c, b.Caller)
}

func (s *Server) listRoles(c *gin.Context) {
	limit, err := queryLimit(c, "limit", engine.DefaultPageSize, engine.MaxPageSize)
	if err != nil {
		writeError(c, err)
		return
	}
	f := store.AssignmentFilter{User: c.Query("user"), Role: c.Query("role"), Scope: c.Query("scope")}
	as, next, err := s.engine.ListAssignments(c.Request.Context(), f, engine.Page{Token: c.Query("page_token"), Limit: limit})
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"assignments": as, "next_page_token": next})
}

func (s *Server) putCourseCreator(c *gin.Context) {
	user, ok := pathID(c, "user")
	if !ok {
		return
	}
	var b creatorBody
	if err := decodeJSON(c, &b); err != nil {
		writeError(c, err)
		return
	}
	if err := s.engine.ValidateCourseCreator(c.Request.Context(), user, b.State, b.AllOrganizations, b.Organizations); err != nil {
		writeError(c, err)
		return
	}
	if !s.requireAdminFor(c, b.Caller) {
		return
	}
	rec, err := s.engine.SetCourseCreator(c.Request.Context(), user, b.State, b.AllOrganizations, b.Organizations, b.Caller)
	respond(c, rec, err)
}

func (s *Server) getCourseCreator(c *gin.Context) {
	if user, ok := pathID(c, "user"); ok {
		rec, err := s.engine.CourseCreator(c.Request.Context(), user)
		respond(c, rec, err)
	}
}

// requestCourseCreator takes an optional body {"caller"}.
func (s *Server) requestCourseCreator(c *gin.Context) {
	user, ok := pathID(c, "user")
	if !ok {
		return
	}
	var b callerBody
	if c.Request.ContentLength != 0 {
		if err := decodeJSON(c, &b); err != nil {
			writeError(c, err)
			return
		}
	}
	if !s.requireAdminFor(c, b.Caller) {
		return
	}
	rec, err := s.engine.RequestCourseCreator(c.Request.Context(), user, b.Caller)
	respond(c, rec, err)
}

func (s *Server) listAudit(c *gin.Context) {
	var since time.Time
	if v := c.Query("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(c, fmt.Errorf("%w: since %q is not an RFC 3339 time (e.g. 2026-01-02T15:04:05Z)", ErrBadRequest, v))
			return
		}
		since = t
	}
	limit, err := queryLimit(c, "limit", defaultAuditLimit, maxAuditLimit)
	if err != nil {
		writeError(c, err)
		return
	}
	entries, err := s.store.ListAudit(c.Request.Context(), since, limit)
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]auditEntry, len(entries))
	for i, e := range entries {
		out[i] = auditEntry{Time: e.Time, Caller: e.Caller, Action: e.Action, Target: e.Target, Details: e.Details}
		if out[i].Details == nil {
			out[i].Details = map[string]any{}
		}
	}
	c.JSON(http.StatusOK, gin.H{"entries": out})
}

// importTimeout bounds reading and answering an import: the server's
// read and write timeouts are too short for a 1 GiB upload.
const importTimeout = time.Hour

// csvTypes are the Content-Types the import accepts ("" too).
var csvTypes = []string{"text/csv", "application/csv", "text/plain", "application/octet-stream"}

// importCSV streams a student_courseaccessrole export into the store.
func (s *Server) importCSV(c *gin.Context) {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || !slices.Contains(csvTypes, mt) {
			writeError(c, fmt.Errorf("%w: Content-Type %q: want text/csv", ErrMediaType, ct))
			return
		}
	}
	rc := http.NewResponseController(c.Writer)
	_ = rc.SetReadDeadline(time.Now().Add(importTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(importTimeout))
	source := "http"
	if tok, ok := c.Get(tokenKey); ok {
		source += ":" + tok.(*Token).Name
	}
	res, err := importer.CourseAccessRoles(c.Request.Context(), c.Request.Body, s.engine, "", source)
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			err = fmt.Errorf("%w: the import body is over %d bytes (%d rows loaded before)", ErrTooLarge, maxErr.Limit, res.Loaded)
		}
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// respond answers 200 with v, or the error.
func respond(c *gin.Context, v any, err error) {
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

// pathID returns a path parameter (unescaped with path rules by the
// pathParams middleware). It answers 400 and returns false for an id that
// cannot be stored.
func pathID(c *gin.Context, name string) (string, bool) {
	v := c.Param(name)
	if err := checkID(name, v); err != nil {
		writeError(c, err)
		return "", false
	}
	return v, true
}

// resourcePath returns the type and id of a resource route.
func resourcePath(c *gin.Context) (typ, id string, ok bool) {
	if typ, ok = pathID(c, "type"); ok {
		id, ok = pathID(c, "id")
	}
	return typ, id, ok
}

// checkID rejects what no store key may hold (the engine checks the rest).
func checkID(what, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%w: %s contains a NUL byte", ErrBadRequest, what)
	}
	return nil
}

// queryLimit parses a positive integer query parameter of at most max.
func queryLimit(c *gin.Context, name string, def, max int) (int, error) {
	v, ok := c.GetQuery(name)
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("%w: %s %q: want an integer from 1 to %d", ErrBadRequest, name, v, max)
	}
	return n, nil
}
