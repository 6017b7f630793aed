# Role management: role.grant and role.revoke on
# {"type": "role", "id": ROLE, "properties": {"scope": SCOPE, "user": TARGET}}.
# The subject is the caller.
package openedx

import rego.v1

import data.hooks

# valid_roles lists the roles that may be assigned at each scope kind
# (policies/openedx.csv).
valid_roles := {
	"global": {"course_creator", "support"},
	"org": {"instructor", "staff", "data_researcher", "library_user", "course_creator"},
	"course": (course_team_roles | forum_roles),
	"library": {"instructor", "staff", "library_user"},
}

# course_team_roles are the course roles governed by the general rule: the
# caller must be course instructor (directly, through org instructor, or
# global staff).
course_team_roles := {
	"instructor", "staff", "limited_staff", "beta_tester", "data_researcher",
	"ccx_coach", "finance_admin", "sales_admin",
}

forum_roles := {
	"forum_administrator", "forum_moderator", "forum_group_moderator",
	"forum_community_ta", "forum_student",
}

# forum roles managed with instructor.edit_forum_roles and (instructor-level
# or forum_administrator).
forum_delegated_roles := {"forum_moderator", "forum_group_moderator", "forum_community_ta"}

role_action if input.action.name == "role.grant"

role_action if input.action.name == "role.revoke"

role_name := input.resource.id if input.resource.type == "role"

role_target := input.resource.properties.user if input.resource.type == "role"

role_scope := input.resource.properties.scope if {
	input.resource.type == "role"
	is_string(input.resource.properties.scope)
}

# role_scope_kind is global, org, course (CCX included) or library, and
# undefined for a malformed scope.
role_scope_kind := "global" if role_scope == "global"

role_scope_kind := "org" if {
	startswith(role_scope, "org:")
	valid_org(substring(role_scope, 4, -1))
}

role_scope_kind := "course" if {
	startswith(role_scope, "course:")
	hooks.parse_key(substring(role_scope, 7, -1)).kind in {"course", "ccx"}
}

role_scope_kind := "library" if {
	startswith(role_scope, "library:")
	hooks.parse_key(substring(role_scope, 8, -1)).kind == "library"
}

valid_role if valid_roles[role_scope_kind][role_name]

deny contains msg if {
	input.resource.type == "role"
	not role_scope_kind
	msg := sprintf("malformed role scope %v", [object.get(input.resource, ["properties", "scope"], null)])
}

deny contains msg if {
	input.resource.type == "role"
	role_scope_kind
	not valid_role
	msg := sprintf("role %v is not valid at %v scope", [object.get(input.resource, "id", null), role_scope_kind])
}

deny contains "role resource needs properties.user (the target user)" if {
	input.resource.type == "role"
	not role_target_ok
}

role_target_ok if non_empty_string(role_target)

# The last direct instructor of a course can never be revoked, by anyone
# (org instructors and global staff do not count).
deny contains msg if {
	input.action.name == "role.revoke"
	role_name == "instructor"
	role_scope_kind == "course"
	"instructor" in hooks.direct_roles(role_target, role_scope)
	hooks.holder_count("instructor", role_scope) == 1
	msg := sprintf("last_instructor: %v is the last instructor of %v", [role_target, role_scope])
}

# Global staff may grant and revoke anything.
allow contains "global staff" if {
	input.resource.type == "role"
	role_action
	global_staff
}

# A user may always revoke their own role, whatever it is.
allow contains "self-revoke" if {
	input.action.name == "role.revoke"
	input.subject.id == role_target
}

allow contains "instructor of the course or its org" if {
	input.resource.type == "role"
	role_action
	role_scope_kind == "course"
	course_team_roles[role_name]
	"instructor" in roles
}

allow contains "instructor of the library or its org" if {
	input.resource.type == "role"
	role_action
	role_scope_kind == "library"
	"instructor" in roles
}

allow contains "staff-level" if {
	input.resource.type == "role"
	role_action
	role_scope_kind == "course"
	role_name == "forum_student"
	staff_level
}

allow contains "instructor.edit_forum_roles and instructor-level" if {
	input.resource.type == "role"
	role_action
	role_scope_kind == "course"
	forum_delegated_roles[role_name]
	staff_level
	instructor_level
}

allow contains "instructor.edit_forum_roles and forum_administrator" if {
	input.resource.type == "role"
	role_action
	role_scope_kind == "course"
	forum_delegated_roles[role_name]
	staff_level
	"forum_administrator" in roles
}

allow contains "instructor-level" if {
	input.resource.type == "role"
	role_action
	role_scope_kind == "course"
	role_name == "forum_administrator"
	instructor_level
}

role_why_not := msg if {
	role_scope_kind in {"global", "org"}
	msg := sprintf("%v of %v at %v needs global staff (or the user revoking their own role)", [input.action.name, role_name, role_scope])
} else := msg if {
	role_scope_kind == "course"
	course_team_roles[role_name]
	msg := sprintf("%v of %v at %v needs instructor of the course or its org, or global staff (or the user revoking their own role)", [input.action.name, role_name, role_scope])
} else := msg if {
	role_scope_kind == "library"
	msg := sprintf("%v of %v at %v needs instructor of the library or its org, or global staff (or the user revoking their own role)", [input.action.name, role_name, role_scope])
} else := msg if {
	role_name == "forum_student"
	msg := sprintf("%v of forum_student at %v needs staff-level on the course (or the user revoking their own role)", [input.action.name, role_scope])
} else := msg if {
	forum_delegated_roles[role_name]
	msg := sprintf("%v of %v at %v needs instructor.edit_forum_roles and (instructor-level or forum_administrator) on the course (or the user revoking their own role)", [input.action.name, role_name, role_scope])
} else := msg if {
	role_name == "forum_administrator"
	msg := sprintf("%v of forum_administrator at %v needs instructor-level on the course (or the user revoking their own role)", [input.action.name, role_scope])
} else := sprintf("%v needs a role resource {\"type\": \"role\", \"id\": ROLE, \"properties\": {\"scope\": SCOPE, \"user\": USER}}", [input.action.name])
