package server

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/importer"
	"github.com/provost-lms/provost/internal/store"
	"github.com/provost-lms/provost/internal/store/boltstore"
)

// Error codes of the JSON error body {"error":{"code","message"}}.
const (
	CodeBadRequest        = "bad_request"
	CodeUnauthorized      = "unauthorized"
	CodeForbidden         = "forbidden"
	CodeLastInstructor    = "last_instructor"
	CodeNotFound          = "not_found"
	CodeConflict          = "conflict"
	CodeInactiveUser      = "inactive_user"
	CodeTooLarge          = "payload_too_large"
	CodePluginUnavailable = "plugin_unavailable"
	CodeUnsupportedMedia  = "unsupported_media_type"
	CodeInternal          = "internal"
)

// Sentinels of the HTTP layer.
var (
	ErrUnauthorized = errors.New("missing or invalid bearer token")
	ErrNoScope      = errors.New("token lacks the scope for this route")
	ErrTooLarge     = errors.New("request body too large")
	ErrBadRequest   = errors.New("bad request")
	ErrMediaType    = errors.New("unsupported media type")
)

// APIError is the body of every error response.
type APIError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// classify maps an error to its HTTP status and code. It is the one place
// where internal errors become HTTP errors.
func classify(err error) (int, string) {
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr), errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, CodeTooLarge
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, CodeUnauthorized
	case errors.Is(err, ErrNoScope), errors.Is(err, engine.ErrForbidden):
		return http.StatusForbidden, CodeForbidden
	case errors.Is(err, engine.ErrLastInstructor):
		return http.StatusForbidden, CodeLastInstructor
	case errors.Is(err, engine.ErrInactiveUser):
		return http.StatusConflict, CodeInactiveUser
	case errors.Is(err, engine.ErrConflict):
		return http.StatusConflict, CodeConflict
	case errors.Is(err, engine.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, CodeNotFound
	case errors.Is(err, engine.ErrReload):
		return http.StatusUnprocessableEntity, CodeReloadFailed
	case errors.Is(err, ErrMediaType):
		return http.StatusUnsupportedMediaType, CodeUnsupportedMedia
	case errors.Is(err, ErrBadRequest), errors.Is(err, engine.ErrInvalid), errors.Is(err, engine.ErrBadPageToken),
		errors.Is(err, importer.ErrHeader), errors.Is(err, boltstore.ErrInvalid):
		return http.StatusBadRequest, CodeBadRequest
	}
	return http.StatusInternalServerError, CodeInternal
}

// writeError answers with the status and JSON body for err.
func writeError(c *gin.Context, err error) {
	status, code := classify(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		loggerFrom(c.Request.Context()).Error("request failed", "err", err, "route", c.FullPath())
		msg = "internal error; see the server log"
	}
	c.AbortWithStatusJSON(status, gin.H{"error": APIError{Code: code, Message: msg}})
}
