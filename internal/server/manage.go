package server

import "github.com/gin-gonic/gin"

func (s *Server) putUser(c *gin.Context)              { notYet(c) }
func (s *Server) getUser(c *gin.Context)              { notYet(c) }
func (s *Server) deleteUser(c *gin.Context)           { notYet(c) }
func (s *Server) putOrgRoles(c *gin.Context)          { notYet(c) }
func (s *Server) putResource(c *gin.Context)          { notYet(c) }
func (s *Server) getResource(c *gin.Context)          { notYet(c) }
func (s *Server) deleteResource(c *gin.Context)       { notYet(c) }
func (s *Server) grantRole(c *gin.Context)            { notYet(c) }
func (s *Server) revokeRole(c *gin.Context)           { notYet(c) }
func (s *Server) listRoles(c *gin.Context)            { notYet(c) }
func (s *Server) putCourseCreator(c *gin.Context)     { notYet(c) }
func (s *Server) getCourseCreator(c *gin.Context)     { notYet(c) }
func (s *Server) requestCourseCreator(c *gin.Context) { notYet(c) }
func (s *Server) listAudit(c *gin.Context)            { notYet(c) }
func (s *Server) importCSV(c *gin.Context)            { notYet(c) }
