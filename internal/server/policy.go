package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/provost-lms/provost/internal/engine"
)

// CodeReloadFailed is the error code of a refused policy reload.
const CodeReloadFailed = "reload_failed"

// reloadPolicy reads, compiles and tests the policy again and swaps it in:
// 200 {"result":"success","revision"} or 422 reload_failed, in which case
// the last valid policy keeps serving.
func (s *Server) reloadPolicy(c *gin.Context) {
	// A client that goes away does not cut a reload short.
	err := s.engine.Reload(context.WithoutCancel(c.Request.Context()))
	if errors.Is(err, engine.ErrReload) {
		c.AbortWithStatusJSON(http.StatusUnprocessableEntity, gin.H{"error": APIError{Code: CodeReloadFailed, Message: err.Error()}})
		return
	}
	if err != nil {
		writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"result": engine.ReloadSuccess, "revision": s.engine.Revision()})
}
