package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Token scopes.
const (
	ScopeDecide = "decide" // decision routes
	ScopeManage = "manage" // management routes, writes with a caller
	ScopeAdmin  = "admin"  // everything, system writes without a caller
)

// Token is a named bearer token. Only the SHA-256 of the secret is kept.
type Token struct {
	Name   string   `yaml:"name" json:"name"`
	SHA256 string   `yaml:"sha256" json:"sha256"`
	Scopes []string `yaml:"scopes" json:"scopes"`
	sum    [sha256.Size]byte
}

// Has reports whether the token holds scope (admin holds every scope).
func (t *Token) Has(scope string) bool {
	return slices.Contains(t.Scopes, ScopeAdmin) || slices.Contains(t.Scopes, scope)
}

// LoadTokens reads a tokens file: YAML or JSON {"tokens":[{"name","sha256","scopes"}]}.
func LoadTokens(path string) ([]Token, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Tokens []Token `yaml:"tokens"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("tokens file %s: %w", path, err)
	}
	for i := range doc.Tokens {
		t := &doc.Tokens[i]
		raw, err := hex.DecodeString(strings.TrimSpace(t.SHA256))
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("tokens file %s: token %q: sha256 must be 64 hex digits", path, t.Name)
		}
		copy(t.sum[:], raw)
		if t.Name == "" {
			return nil, fmt.Errorf("tokens file %s: token %d has no name", path, i+1)
		}
		for _, s := range t.Scopes {
			if s != ScopeDecide && s != ScopeManage && s != ScopeAdmin {
				return nil, fmt.Errorf("tokens file %s: token %q: unknown scope %q (want decide, manage or admin)", path, t.Name, s)
			}
		}
	}
	return doc.Tokens, nil
}

// tokenSet checks bearer secrets in constant time per token.
type tokenSet struct {
	tokens []Token
}

func newTokenSet(admin string, tokens []Token) *tokenSet {
	ts := &tokenSet{tokens: slices.Clone(tokens)}
	if admin != "" {
		ts.tokens = append(ts.tokens, Token{Name: "admin", Scopes: []string{ScopeAdmin}, sum: sha256.Sum256([]byte(admin))})
	}
	return ts
}

// lookup returns the token whose secret is secret. Every token is compared,
// in constant time, whatever matches.
func (ts *tokenSet) lookup(secret string) *Token {
	if secret == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(secret))
	var found *Token
	for i := range ts.tokens {
		if subtle.ConstantTimeCompare(sum[:], ts.tokens[i].sum[:]) == 1 {
			found = &ts.tokens[i]
		}
	}
	return found
}

// bearer extracts the secret of an "Authorization: Bearer" header.
func bearer(h string) string {
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(secret)
}

// IsLoopback reports whether addr (host:port) listens on loopback only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
