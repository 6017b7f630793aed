package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/gin-gonic/gin"
)

// decodeJSON decodes the request body into v. Unknown fields are ignored;
// wrong types, nulls where objects are required (checked by the caller),
// malformed or trailing JSON are ErrBadRequest; a body over the route's
// limit is ErrTooLarge (413).
func decodeJSON(c *gin.Context, v any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "text/json") {
			return fmt.Errorf("%w: Content-Type %q: want application/json", ErrMediaType, ct)
		}
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxErr.Limit)
		}
		return fmt.Errorf("%w: reading the body: %v", ErrBadRequest, err)
	}
	if len(body) == 0 {
		return fmt.Errorf("%w: empty body: want a JSON object", ErrBadRequest)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: malformed JSON: %v", ErrBadRequest, err)
	}
	return nil
}
