package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

func notYet(c *gin.Context) {
	c.AbortWithStatusJSON(http.StatusNotImplemented, gin.H{"error": APIError{Code: "not_implemented", Message: "not implemented yet"}})
}

func (s *Server) metadata(c *gin.Context)       { notYet(c) }
func (s *Server) evaluation(c *gin.Context)     { notYet(c) }
func (s *Server) evaluations(c *gin.Context)    { notYet(c) }
func (s *Server) searchSubject(c *gin.Context)  { notYet(c) }
func (s *Server) searchResource(c *gin.Context) { notYet(c) }
func (s *Server) searchAction(c *gin.Context)   { notYet(c) }
