# Studio (the Open edX permission bitmask), course creation, reruns and
# organization creation.
package openedx

import rego.v1

import data.hooks

studio_all := {"view_content", "edit_content", "view_users", "edit_roles"}

studio_staff := {"view_content", "edit_content", "view_users"}

# studio_grant is the subject's Studio permission bits on the course or
# library with the role that gives them. Nobody has any on a CCX course.
studio_grant := {"perms": set(), "reason": "CCX course"} if {
	ccx
} else := {"perms": studio_all, "reason": "global staff"} if {
	global_staff
} else := {"perms": studio_all, "reason": "instructor of the course or its org"} if {
	"instructor" in roles
} else := {"perms": studio_staff, "reason": "staff of the course or its org"} if {
	"staff" in roles
} else := {"perms": {"edit_content"}, "reason": "course limited_staff"} if {
	"limited_staff" in roles
} else := {"perms": {"view_content", "view_users"}, "reason": "library_user of the library or its org"} if {
	input.resource.type == "library"
	"library_user" in roles
} else := {"perms": set(), "reason": "no Studio role"}

studio_perms := studio_grant.perms

deny contains "nobody has Studio access to CCX courses" if {
	glob.match("studio.*", ["."], input.action.name)
	ccx
}

deny contains "nobody has Studio access to CCX courses (course.rerun needs studio.edit_content on the source)" if {
	input.action.name == "course.rerun"
	ccx
}

allow contains studio_grant.reason if {
	glob.match("studio.*", ["."], input.action.name)
	perm := studio_action_perm[input.action.name]
	perm in studio_perms
}

allow contains studio_grant.reason if {
	input.action.name == "studio.edit_advanced_settings"
	not advanced_settings_disabled
	"edit_content" in studio_perms
}

allow contains "global staff" if {
	input.action.name == "studio.edit_advanced_settings"
	advanced_settings_disabled
	global_staff
	not ccx
}

# ---------------------------------------------------------------------------
# Course creation: course.create on {"type": "org", "id": ORG}.

deny contains "course creation is disabled (DISABLE_COURSE_CREATION)" if {
	input.action.name == "course.create"
	course_creation_disabled
	not global_staff
}

allow contains "global staff" if {
	input.action.name == "course.create"
	global_staff
}

allow contains "course creation is open to every active user (ENABLE_CREATOR_GROUP unset)" if {
	input.action.name == "course.create"
	not creator_group_enabled
}

allow contains "global course_creator" if {
	input.action.name == "course.create"
	creator_group_enabled
	"course_creator" in global_roles
}

allow contains "course_creator in the org" if {
	input.action.name == "course.create"
	creator_group_enabled
	"course_creator" in roles
}

# may_create_in(org) holds when the subject may create a course in org.
may_create_in(_) if global_staff

may_create_in(_) if {
	not course_creation_disabled
	not creator_group_enabled
}

may_create_in(_) if {
	not course_creation_disabled
	"course_creator" in global_roles
}

may_create_in(org) if {
	not course_creation_disabled
	"course_creator" in hooks.roles(input.subject.id, concat(":", ["org", org]))
}

# ---------------------------------------------------------------------------
# Reruns: course.rerun on the source course with context.target_org.

deny contains "course.rerun needs context.target_org" if {
	input.action.name == "course.rerun"
	not input.context.target_org
}

deny contains msg if {
	input.action.name == "course.rerun"
	target := input.context.target_org
	not valid_org(target)
	msg := sprintf("malformed context.target_org %v", [target])
}

deny contains "course creation is disabled (DISABLE_COURSE_CREATION)" if {
	input.action.name == "course.rerun"
	course_creation_disabled
	not global_staff
}

allow contains "studio.edit_content on the source and course.create in the target org" if {
	input.action.name == "course.rerun"
	"edit_content" in studio_perms
	valid_org(input.context.target_org)
	may_create_in(input.context.target_org)
}

# ---------------------------------------------------------------------------
# Organization creation: organization.create on {"type": "platform", "id": "*"}.

allow contains "global staff" if {
	input.action.name == "organization.create"
	global_staff
}

allow contains "organization creation is open to every active user (ENABLE_CREATOR_GROUP unset)" if {
	input.action.name == "organization.create"
	not creator_group_enabled
}
