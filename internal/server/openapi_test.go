package server_test

import (
	"strings"
	"testing"

	"github.com/provost-lms/provost/internal/server"
)

// TestOpenAPIDocumentsEveryRoute checks that every registered route is in
// /openapi.json and that every documented path is served.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	ts := startServer(t, serverOpts{})
	routes := ts.Server.Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		if !server.Documented(method, path) {
			t.Errorf("route %s is not in the OpenAPI document", r)
		}
	}
	r := ts.do("GET", "/openapi.json", nil, "")
	if r.Status != 200 {
		t.Fatalf("GET /openapi.json = %d", r.Status)
	}
	doc := r.JSON(t)
	if doc["openapi"] != "3.0.3" {
		t.Fatalf("openapi = %v", doc["openapi"])
	}
	paths := doc["paths"].(map[string]any)
	served := map[string]bool{}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "{"+seg[1:]+"}", 1)
			}
		}
		served[strings.ToLower(method)+" "+path] = true
	}
	for p, item := range paths {
		for m := range item.(map[string]any) {
			if !served[m+" "+p] {
				t.Errorf("documented %s %s is not served", m, p)
			}
		}
	}
}
