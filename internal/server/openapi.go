package server

import "github.com/gin-gonic/gin"

func (s *Server) openapi(c *gin.Context) { notYet(c) }
