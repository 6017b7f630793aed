package server

import (
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
)

// apiOp describes one route for the OpenAPI document.
type apiOp struct {
	method, path, summary, tag string
	body                       string // request schema (component name), "" for none
	bodyType                   string // media type of the body, application/json by default
	optionalBody               bool
	status                     int    // success status
	result                     string // response schema (component name)
	query                      []string
	auth                       string // "none", "decide" (loopback: none), "manage", "admin"
}

// apiOps lists every route; a test checks each registered route is here.
var apiOps = []apiOp{
	{method: "GET", path: "/.well-known/authzen-configuration", summary: "AuthZEN PDP metadata", tag: "authzen", status: 200, result: "Metadata", auth: "none"},
	{method: "POST", path: "/access/v1/evaluation", summary: "One access evaluation (deny is 200 with decision false)", tag: "authzen", body: "EvaluationRequest", status: 200, result: "Decision", auth: "decide"},
	{method: "POST", path: "/access/v1/evaluations", summary: "A batch of evaluations with top-level defaults and options.evaluations_semantic", tag: "authzen", body: "EvaluationsRequest", status: 200, result: "Evaluations", auth: "decide"},
	{method: "POST", path: "/access/v1/search/subject", summary: "Users who may do the action on the resource", tag: "authzen", body: "SearchRequest", status: 200, result: "EntitySearch", auth: "decide"},
	{method: "POST", path: "/access/v1/search/resource", summary: "Resources of a type the subject may act on", tag: "authzen", body: "SearchRequest", status: 200, result: "EntitySearch", auth: "decide"},
	{method: "POST", path: "/access/v1/search/action", summary: "The pack's actions the subject may do on the resource", tag: "authzen", body: "SearchRequest", status: 200, result: "ActionSearch", auth: "decide"},
	{method: "GET", path: "/openapi.json", summary: "This document", tag: "meta", status: 200, result: "Object", auth: "none"},
	{method: "GET", path: "/healthz", summary: "Alive", tag: "meta", status: 200, result: "Object", auth: "none"},
	{method: "GET", path: "/readyz", summary: "Ready: policy loaded, store open, plugins up (503 not_ready otherwise)", tag: "meta", status: 200, result: "Object", auth: "none"},
	{method: "GET", path: "/metrics", summary: "Prometheus metrics (text exposition format, not JSON; 404 when metrics are off)", tag: "meta", status: 200, result: "Object", auth: "none"},
	{method: "GET", path: "/v1/status", summary: "Pack, revision, loaded_at, last reload, plugins and counts", tag: "meta", status: 200, result: "Object", auth: "manage"},
	{method: "PUT", path: "/v1/users/{id}", summary: "Write a user", tag: "users", body: "User", status: 200, result: "User", auth: "manage"},
	{method: "GET", path: "/v1/users/{id}", summary: "Read a user", tag: "users", status: 200, result: "User", auth: "manage"},
	{method: "DELETE", path: "/v1/users/{id}", summary: "Delete a user and the user's role assignments", tag: "users", status: 200, result: "Object", auth: "manage"},
	{method: "PUT", path: "/v1/users/{id}/org-roles/{role}", summary: "The user holds role in exactly these orgs afterwards", tag: "roles", body: "OrgRoles", status: 200, result: "Object", auth: "manage"},
	{method: "PUT", path: "/v1/resources/{type}/{id}", summary: "Register a resource with properties (URL-escape ids)", tag: "resources", body: "ResourceBody", status: 200, result: "Resource", auth: "manage"},
	{method: "GET", path: "/v1/resources/{type}/{id}", summary: "Read a registered resource", tag: "resources", status: 200, result: "Resource", auth: "manage"},
	{method: "DELETE", path: "/v1/resources/{type}/{id}", summary: "Remove a registered resource", tag: "resources", status: 200, result: "Object", auth: "manage"},
	{method: "POST", path: "/v1/roles/grant", summary: "Grant a role (201 new, 200 already held; 409 inactive_user)", tag: "roles", body: "RoleChange", status: 201, result: "Assignment", auth: "manage"},
	{method: "POST", path: "/v1/roles/revoke", summary: "Revoke a role (403 last_instructor)", tag: "roles", body: "RoleChange", status: 200, result: "Assignment", auth: "manage"},
	{method: "GET", path: "/v1/roles", summary: "List role assignments, paged", tag: "roles", status: 200, result: "Assignments", query: []string{"user", "role", "scope", "page_token", "limit"}, auth: "manage"},
	{method: "PUT", path: "/v1/course-creators/{user}", summary: "Set the course-creator state", tag: "course-creators", body: "CourseCreatorBody", status: 200, result: "CourseCreator", auth: "manage"},
	{method: "GET", path: "/v1/course-creators/{user}", summary: "Read the course-creator state and allowed organizations", tag: "course-creators", status: 200, result: "CourseCreator", auth: "manage"},
	{method: "POST", path: "/v1/course-creators/{user}/request", summary: "Request course-creator rights (pending unless granted)", tag: "course-creators", body: "CallerBody", optionalBody: true, status: 200, result: "CourseCreator", auth: "manage"},
	{method: "GET", path: "/v1/audit", summary: "Management changes after since, oldest first", tag: "audit", status: 200, result: "Audit", query: []string{"since", "limit"}, auth: "manage"},
	{method: "POST", path: "/v1/import/course-access-roles", summary: "Import an Open edX student_courseaccessrole CSV export (streamed, up to 1 GiB)", tag: "import", body: "CSV", bodyType: "text/csv", status: 200, result: "ImportResult", auth: "admin"},
	{method: "POST", path: "/v1/policy/reload", summary: "Re-read, compile and test the policy, then swap it in (422 reload_failed: the last valid policy keeps serving)", tag: "policy", status: 200, result: "Object", auth: "admin"},
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func obj(props map[string]any, required ...string) map[string]any {
	o := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

var (
	tString = map[string]any{"type": "string"}
	tBool   = map[string]any{"type": "boolean"}
	tInt    = map[string]any{"type": "integer"}
	tObject = map[string]any{"type": "object", "additionalProperties": true}
)

func arr(items map[string]any) map[string]any { return map[string]any{"type": "array", "items": items} }

var schemas = map[string]any{
	"Object": tObject,
	"Error":  obj(map[string]any{"error": obj(map[string]any{"code": tString, "message": tString}, "code", "message")}, "error"),
	"Entity": obj(map[string]any{"type": tString, "id": tString, "properties": tObject}, "type", "id"),
	"Action": obj(map[string]any{"name": tString, "properties": tObject}, "name"),
	"EvaluationRequest": obj(map[string]any{"subject": ref("Entity"), "action": ref("Action"), "resource": ref("Entity"),
		"context": obj(map[string]any{"explain": tBool})}, "subject", "action", "resource"),
	"EvaluationsRequest": obj(map[string]any{"subject": ref("Entity"), "action": ref("Action"), "resource": ref("Entity"), "context": tObject,
		"evaluations": arr(ref("EvaluationRequest")),
		"options": obj(map[string]any{"evaluations_semantic": map[string]any{"type": "string",
			"enum": []string{"execute_all", "deny_on_first_deny", "permit_on_first_permit"}}})}),
	"Decision": obj(map[string]any{"decision": tBool,
		"context": obj(map[string]any{"reason": tString, "decision_id": tString, "error": tString})}, "decision"),
	"Evaluations":   obj(map[string]any{"evaluations": arr(ref("Decision"))}, "evaluations"),
	"SearchRequest": obj(map[string]any{"subject": tObject, "action": ref("Action"), "resource": tObject, "context": tObject, "page": obj(map[string]any{"token": tString, "limit": tInt})}),
	"Page":          obj(map[string]any{"next_token": tString}, "next_token"),
	"EntitySearch":  obj(map[string]any{"results": arr(obj(map[string]any{"type": tString, "id": tString}, "type", "id")), "page": ref("Page")}, "results", "page"),
	"ActionSearch":  obj(map[string]any{"results": arr(obj(map[string]any{"name": tString}, "name")), "page": ref("Page")}, "results", "page"),
	"Metadata": obj(map[string]any{"policy_decision_point": tString, "access_evaluation_endpoint": tString, "access_evaluations_endpoint": tString,
		"search_subject_endpoint": tString, "search_resource_endpoint": tString, "search_action_endpoint": tString}, "policy_decision_point"),
	"User": obj(map[string]any{"id": tString, "email": tString, "username": tString, "is_active": tBool, "is_staff": tBool,
		"is_superuser": tBool, "language": tString, "attributes": tObject}),
	"ResourceBody": obj(map[string]any{"properties": tObject}, "properties"),
	"Resource":     obj(map[string]any{"type": tString, "id": tString, "properties": tObject}),
	"Assignment":   obj(map[string]any{"user": tString, "role": tString, "scope": tString}, "user", "role", "scope"),
	"RoleChange":   obj(map[string]any{"user": tString, "role": tString, "scope": tString, "caller": tString}, "user", "role", "scope"),
	"Assignments":  obj(map[string]any{"assignments": arr(ref("Assignment")), "next_page_token": tString}, "assignments", "next_page_token"),
	"OrgRoles":     obj(map[string]any{"orgs": arr(tString), "caller": tString}, "orgs"),
	"CallerBody":   obj(map[string]any{"caller": tString}),
	"CourseCreatorBody": obj(map[string]any{"state": map[string]any{"type": "string", "enum": []string{"unrequested", "pending", "granted", "denied"}},
		"all_organizations": tBool, "organizations": arr(tString), "caller": tString}, "state"),
	"CourseCreator": obj(map[string]any{"state": tString, "all_organizations": tBool, "organizations": arr(tString), "allowed_organizations": arr(tString)}),
	"Audit": obj(map[string]any{"entries": arr(obj(map[string]any{"time": map[string]any{"type": "string", "format": "date-time"},
		"caller": tString, "action": tString, "target": tString, "details": tObject}))}, "entries"),
	"CSV":          map[string]any{"type": "string", "description": "header user_id,org,course_id,role"},
	"ImportResult": obj(map[string]any{"loaded": tInt, "rejected": arr(obj(map[string]any{"line": tInt, "reason": tString})), "rejected_total": tInt}, "loaded", "rejected"),
}

var errorResponses = map[string]string{
	"400": "Bad input (unknown role, bad scope, malformed JSON)", "401": "No or bad token", "403": "Caller or token lacks authority",
	"404": "Not found", "409": "Conflict (inactive_user)", "413": "Body over 1 MiB",
}

// document builds the OpenAPI 3 document.
func document() map[string]any {
	paths := map[string]any{}
	for _, op := range apiOps {
		item, _ := paths[op.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.path] = item
		}
		o := map[string]any{"summary": op.summary, "tags": []string{op.tag}, "operationId": operationID(op)}
		var params []any
		for _, seg := range strings.Split(op.path, "/") {
			if strings.HasPrefix(seg, "{") {
				params = append(params, map[string]any{"name": strings.Trim(seg, "{}"), "in": "path", "required": true, "schema": tString})
			}
		}
		for _, q := range op.query {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": tString})
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if op.body != "" {
			mt := op.bodyType
			if mt == "" {
				mt = "application/json"
			}
			o["requestBody"] = map[string]any{"required": !op.optionalBody, "content": map[string]any{mt: map[string]any{"schema": ref(op.body)}}}
		}
		responses := map[string]any{itoa(op.status): map[string]any{"description": "OK",
			"content": map[string]any{"application/json": map[string]any{"schema": ref(op.result)}}}}
		if op.auth != "none" {
			for code, desc := range errorResponses {
				responses[code] = map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}}
			}
			o["security"] = []any{map[string]any{"bearer": []string{}}}
			if op.auth == "decide" {
				o["description"] = "Open on a loopback address; elsewhere a token with scope decide (or --allow-anonymous-decisions)."
			} else {
				o["description"] = "Needs a bearer token with scope " + op.auth + "; a write without caller needs scope admin."
			}
		}
		o["responses"] = responses
		item[strings.ToLower(op.method)] = o
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "Provost", "version": "1",
			"description": "Authorization sidecar for learning platforms: OpenID AuthZEN 1.0 decisions and a management API."},
		"paths": paths,
		"components": map[string]any{"schemas": schemas,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}}},
	}
}

func operationID(op apiOp) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(op.method))
	for _, seg := range strings.Split(op.path, "/") {
		seg = strings.Trim(seg, "{}.")
		for _, part := range strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '_' }) {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

var openapiOnce = sync.OnceValue(document)

// openapi serves the OpenAPI 3 document of every route.
func (s *Server) openapi(c *gin.Context) {
	c.JSON(http.StatusOK, openapiOnce())
}

// Documented reports whether method and gin path (":id" style) are in the document.
func Documented(method, ginPath string) bool {
	segs := strings.Split(ginPath, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	path := strings.Join(segs, "/")
	for _, op := range apiOps {
		if op.method == method && op.path == path {
			return true
		}
	}
	return false
}
