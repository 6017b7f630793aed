package server

// The AuthZEN Authorization API 1.0 decision routes. Handlers decode, check
// the fields the AuthZEN text requires, call the Decider and encode; they
// hold no policy logic. Decisions never answer 5xx: an evaluation error or
// a panic is a deny with context.error, and a search that fails for any
// reason but bad input answers no results.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/provost-lms/provost/internal/engine"
)

// MaxEvaluations bounds the evaluations array of one request (AuthZEN asks
// a PDP to protect itself against oversized payloads).
const MaxEvaluations = 10000

// ExplainHeader asks for context.reason and context.decision_id, like
// "context":{"explain":true} in the request.
const ExplainHeader = "X-Provost-Explain"

// The values of options.evaluations_semantic.
const (
	SemanticExecuteAll          = "execute_all"
	SemanticDenyOnFirstDeny     = "deny_on_first_deny"
	SemanticPermitOnFirstPermit = "permit_on_first_permit"
)

// evalRequest is the AuthZEN 4-tuple. Pointers tell a missing (or null)
// member from an empty one; unknown members are ignored.
type evalRequest struct {
	Subject  *engine.Entity `json:"subject"`
	Action   *engine.Action `json:"action"`
	Resource *engine.Entity `json:"resource"`
	Context  map[string]any `json:"context"`
}

// need says which ids a request shape requires; types and action.name are
// always required except the action of an action search.
type need struct{ subjectID, action, resourceID bool }

var (
	needEvaluation     = need{subjectID: true, action: true, resourceID: true}
	needSubjectSearch  = need{action: true, resourceID: true}
	needResourceSearch = need{subjectID: true, action: true}
	needActionSearch   = need{subjectID: true, resourceID: true}
)

// check returns an error naming the first required field that is missing
// or empty.
func (r *evalRequest) check(n need) error {
	var field string
	switch {
	case r.Subject == nil:
		field = "subject"
	case r.Subject.Type == "":
		field = "subject.type"
	case n.subjectID && r.Subject.ID == "":
		field = "subject.id"
	case n.action && r.Action == nil:
		field = "action"
	case n.action && r.Action.Name == "":
		field = "action.name"
	case r.Resource == nil:
		field = "resource"
	case r.Resource.Type == "":
		field = "resource.type"
	case n.resourceID && r.Resource.ID == "":
		field = "resource.id"
	default:
		return nil
	}
	return fmt.Errorf("%s is missing or empty", field)
}

// engineRequest copies the request for the engine; missing members are zero.
func (r *evalRequest) engineRequest() *engine.Request {
	out := &engine.Request{Context: r.Context}
	if r.Subject != nil {
		out.Subject = *r.Subject
	}
	if r.Action != nil {
		out.Action = *r.Action
	}
	if r.Resource != nil {
		out.Resource = *r.Resource
	}
	return out
}

// withDefaults applies the top-level members of an evaluations request as
// defaults: AuthZEN says an item's subject, action, resource or context,
// when present, takes precedence over the top-level one, so each of the
// four is taken whole from the item or else from the top level (no deep
// merge of their fields).
func (r evalRequest) withDefaults(top evalRequest) evalRequest {
	if r.Subject == nil {
		r.Subject = top.Subject
	}
	if r.Action == nil {
		r.Action = top.Action
	}
	if r.Resource == nil {
		r.Resource = top.Resource
	}
	if r.Context == nil {
		r.Context = top.Context
	}
	return r
}

// decisionJSON is an AuthZEN decision: lean unless explained or failed.
type decisionJSON struct {
	Decision bool             `json:"decision"`
	Context  *decisionContext `json:"context,omitempty"`
}

type decisionContext struct {
	Reason     string `json:"reason"`
	DecisionID string `json:"decision_id"`
	Error      string `json:"error,omitempty"`
}

// answer renders d: {"decision":…} alone, with context when explain is set
// or the evaluation failed.
func answer(d engine.Decision, explain bool) decisionJSON {
	out := decisionJSON{Decision: d.Allow && d.Error == ""}
	if explain || d.Error != "" {
		out.Context = &decisionContext{Reason: d.Reason, DecisionID: d.ID, Error: d.Error}
	}
	return out
}

// explainWanted reports whether the request asks for an explanation, by
// header or by context.explain = true.
func explainWanted(c *gin.Context, ctx map[string]any) bool {
	if on, err := strconv.ParseBool(strings.TrimSpace(c.GetHeader(ExplainHeader))); err == nil && on {
		return true
	}
	on, _ := ctx["explain"].(bool)
	return on
}

// decide asks the Decider and turns a panic into a deny with Error set.
func (s *Server) decide(ctx context.Context, req *engine.Request) (d engine.Decision) {
	defer func() {
		if r := recover(); r != nil {
			loggerFrom(ctx).Error("decision panicked; denying", "panic", r)
			d = engine.Decision{Reason: "evaluation error", Error: fmt.Sprintf("panic: %v", r)}
		}
	}()
	return s.decider.Decide(ctx, req)
}

// evaluation answers POST /access/v1/evaluation.
func (s *Server) evaluation(c *gin.Context) {
	var in evalRequest
	if err := decodeJSON(c, &in); err != nil {
		writeError(c, err)
		return
	}
	s.single(c, &in)
}

// single answers one evaluation: 400 for a missing field, else a decision.
func (s *Server) single(c *gin.Context, in *evalRequest) {
	if err := in.check(needEvaluation); err != nil {
		writeError(c, fmt.Errorf("%w: %v", ErrBadRequest, err))
		return
	}
	d := s.decide(c.Request.Context(), in.engineRequest())
	writeJSON(c, answer(d, explainWanted(c, in.Context)))
}

type evalsRequest struct {
	evalRequest
	Evaluations []evalRequest `json:"evaluations"`
	Options     struct {
		Semantic string `json:"evaluations_semantic"`
	} `json:"options"`
}

// evaluations answers POST /access/v1/evaluations. Without an evaluations
// array (or with an empty one) it is the single evaluation, answered as
// such. An item missing a required field after the defaults is an error of
// that item, not of the payload (AuthZEN "Errors"): a deny with
// context.error; the items after it still run.
func (s *Server) evaluations(c *gin.Context) {
	var in evalsRequest
	if err := decodeJSON(c, &in); err != nil {
		writeError(c, err)
		return
	}
	sem := in.Options.Semantic
	switch sem {
	case "", SemanticExecuteAll, SemanticDenyOnFirstDeny, SemanticPermitOnFirstPermit:
	default:
		writeError(c, fmt.Errorf("%w: options.evaluations_semantic %q: want %s, %s or %s", ErrBadRequest, sem,
			SemanticExecuteAll, SemanticDenyOnFirstDeny, SemanticPermitOnFirstPermit))
		return
	}
	if len(in.Evaluations) == 0 {
		s.single(c, &in.evalRequest)
		return
	}
	if len(in.Evaluations) > MaxEvaluations {
		writeError(c, fmt.Errorf("%w: %d evaluations: at most %d per request", ErrBadRequest, len(in.Evaluations), MaxEvaluations))
		return
	}
	out := struct {
		Evaluations []decisionJSON `json:"evaluations"`
	}{make([]decisionJSON, 0, len(in.Evaluations))}
	for i, item := range in.Evaluations {
		item = item.withDefaults(in.evalRequest)
		bad := item.check(needEvaluation)
		d := s.decide(c.Request.Context(), item.engineRequest())
		if bad != nil {
			d.Allow, d.Error = false, fmt.Sprintf("evaluations[%d]: %v", i, bad)
		}
		a := answer(d, explainWanted(c, item.Context))
		out.Evaluations = append(out.Evaluations, a)
		if (sem == SemanticDenyOnFirstDeny && !a.Decision) || (sem == SemanticPermitOnFirstPermit && a.Decision) {
			break
		}
	}
	writeJSON(c, out)
}

// searchRequest is an AuthZEN search: the 4-tuple and a page.
type searchRequest struct {
	evalRequest
	Page struct {
		Token string `json:"token"`
		// NextToken is the drafts' spelling of token, accepted so that
		// a draft client pages instead of looping on the first page.
		NextToken string `json:"next_token"`
		Limit     int    `json:"limit"`
	} `json:"page"`
}

type searchFunc func(context.Context, *engine.Request, engine.Page) (engine.SearchResult, error)

// decodeSearch decodes and checks a search; it answers and returns false on
// bad input.
func decodeSearch(c *gin.Context, n need) (*engine.Request, engine.Page, bool) {
	var in searchRequest
	err := decodeJSON(c, &in)
	if err == nil {
		if err = in.check(n); err != nil {
			err = fmt.Errorf("%w: %v", ErrBadRequest, err)
		} else if in.Page.Limit < 0 {
			err = fmt.Errorf("%w: page.limit %d: want a non-negative integer", ErrBadRequest, in.Page.Limit)
		}
	}
	if err != nil {
		writeError(c, err)
		return nil, engine.Page{}, false
	}
	page := engine.Page{Token: in.Page.Token, Limit: in.Page.Limit}
	if page.Token == "" {
		page.Token = in.Page.NextToken
	}
	return in.engineRequest(), page, true
}

// search runs a search. Bad input (ErrInvalid, a bad page token) is
// answered 400 and ok is false; any other failure, a panic included, is
// logged and fails closed as a page of no results.
func (s *Server) search(c *gin.Context, kind string, fn searchFunc, req *engine.Request, page engine.Page) (res engine.SearchResult, ok bool) {
	ctx := c.Request.Context()
	failClosed := func(cause any) {
		loggerFrom(ctx).Error("search failed; answering no results", "search", kind, "err", cause)
		res, ok = engine.SearchResult{IDs: []string{}}, true
	}
	defer func() {
		if r := recover(); r != nil {
			failClosed(fmt.Sprintf("panic: %v", r))
		}
	}()
	res, err := fn(ctx, req, page)
	switch {
	case err == nil:
		return res, true
	case errors.Is(err, engine.ErrInvalid), errors.Is(err, engine.ErrBadPageToken):
		writeError(c, err)
		return res, false
	}
	failClosed(err)
	return res, ok
}

type entityRef struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type actionRef struct {
	Name string `json:"name"`
}

type pageOut struct {
	NextToken string `json:"next_token"`
}

type searchJSON[T any] struct {
	Results []T     `json:"results"`
	Page    pageOut `json:"page"`
}

func entities(typ string, res engine.SearchResult) searchJSON[entityRef] {
	out := searchJSON[entityRef]{Results: make([]entityRef, 0, len(res.IDs)), Page: pageOut{res.NextToken}}
	for _, id := range res.IDs {
		out.Results = append(out.Results, entityRef{Type: typ, ID: id})
	}
	return out
}

// searchSubject answers POST /access/v1/search/subject; subject.id is ignored.
func (s *Server) searchSubject(c *gin.Context) {
	req, page, ok := decodeSearch(c, needSubjectSearch)
	if !ok {
		return
	}
	req.Subject.ID = ""
	if res, ok := s.search(c, "subject", s.decider.SearchSubjects, req, page); ok {
		writeJSON(c, entities(req.Subject.Type, res))
	}
}

// searchResource answers POST /access/v1/search/resource; resource.id is ignored.
func (s *Server) searchResource(c *gin.Context) {
	req, page, ok := decodeSearch(c, needResourceSearch)
	if !ok {
		return
	}
	req.Resource.ID = ""
	if res, ok := s.search(c, "resource", s.decider.SearchResources, req, page); ok {
		writeJSON(c, entities(req.Resource.Type, res))
	}
}

// searchAction answers POST /access/v1/search/action; action is ignored.
func (s *Server) searchAction(c *gin.Context) {
	req, page, ok := decodeSearch(c, needActionSearch)
	if !ok {
		return
	}
	req.Action = engine.Action{}
	res, ok := s.search(c, "action", s.decider.SearchActions, req, page)
	if !ok {
		return
	}
	out := searchJSON[actionRef]{Results: make([]actionRef, 0, len(res.IDs)), Page: pageOut{res.NextToken}}
	for _, name := range res.IDs {
		out.Results = append(out.Results, actionRef{Name: name})
	}
	writeJSON(c, out)
}

// pdpMetadata is the AuthZEN 1.0 PDP metadata, in the order of the text.
type pdpMetadata struct {
	PolicyDecisionPoint       string `json:"policy_decision_point"`
	AccessEvaluationEndpoint  string `json:"access_evaluation_endpoint"`
	AccessEvaluationsEndpoint string `json:"access_evaluations_endpoint"`
	SearchSubjectEndpoint     string `json:"search_subject_endpoint"`
	SearchResourceEndpoint    string `json:"search_resource_endpoint"`
	SearchActionEndpoint      string `json:"search_action_endpoint"`
}

// metadata answers GET /.well-known/authzen-configuration.
func (s *Server) metadata(c *gin.Context) {
	base := s.baseURL(c.Request)
	writeJSON(c, pdpMetadata{
		PolicyDecisionPoint:       base,
		AccessEvaluationEndpoint:  base + "/access/v1/evaluation",
		AccessEvaluationsEndpoint: base + "/access/v1/evaluations",
		SearchSubjectEndpoint:     base + "/access/v1/search/subject",
		SearchResourceEndpoint:    base + "/access/v1/search/resource",
		SearchActionEndpoint:      base + "/access/v1/search/action",
	})
}

// baseURL is the URL the client used to reach us: scheme and Host. The
// scheme is https on TLS, else X-Forwarded-Proto when it is exactly http or
// https (a TLS-terminating proxy in front), else http. Honouring the header
// is safe: it only shapes this response, for the client that sent it, as
// the Host header already does, and no other value gets through.
func (s *Server) baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else {
		first, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
		if p := strings.ToLower(strings.TrimSpace(first)); p == "http" || p == "https" {
			scheme = p
		}
	}
	host := r.Host
	if host == "" {
		host = s.cfg.Addr
	}
	return scheme + "://" + host
}

// writeJSON answers 200 with v as compact JSON, without a trailing newline
// and without HTML escaping (AuthZEN interop harnesses compare text).
func writeJSON(c *gin.Context, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		writeError(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}
