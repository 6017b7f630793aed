# Package openedx is the Open edX policy pack of Provost: Studio, course
# creation, role management, forum and instructor-dashboard permissions
# (SPEC section 6).
#
# The decision is allow exactly when deny is empty and allow is not. This
# file holds what every request shares: settings, the action table, the
# subject's roles at the resource's scope, request validation and why_not.
# The rules of each area live in studio.rego, roles.rego, forum.rego,
# instructor.rego; search candidates in search.rego.
package openedx

import rego.v1

import data.hooks

# ---------------------------------------------------------------------------
# Settings (rego/openedx/settings.json); absent flags are false. (Reading
# them through object.get(data, ...) would make every rule depend on the
# whole of data, this package included, and is rejected as recursion.)

creator_group_enabled if data.settings.ENABLE_CREATOR_GROUP == true

course_creation_disabled if data.settings.DISABLE_COURSE_CREATION == true

advanced_settings_disabled if data.settings.DISABLE_ADVANCED_SETTINGS == true

# ---------------------------------------------------------------------------
# Actions.

# studio_action_perm maps each Studio action to its permission bit name.
studio_action_perm := {
	"studio.view_content": "view_content",
	"studio.edit_content": "edit_content",
	"studio.view_users": "view_users",
	"studio.edit_roles": "edit_roles",
	"studio.edit_advanced_settings": "edit_advanced_settings",
}

# forum_action_perm maps forum.<perm> to <perm>, for every forum permission.
forum_action_perm := {
	"forum.vote": "vote",
	"forum.unvote": "unvote",
	"forum.create_thread": "create_thread",
	"forum.update_thread": "update_thread",
	"forum.follow_thread": "follow_thread",
	"forum.unfollow_thread": "unfollow_thread",
	"forum.create_comment": "create_comment",
	"forum.update_comment": "update_comment",
	"forum.create_sub_comment": "create_sub_comment",
	"forum.follow_commentable": "follow_commentable",
	"forum.unfollow_commentable": "unfollow_commentable",
	"forum.edit_content": "edit_content",
	"forum.delete_thread": "delete_thread",
	"forum.openclose_thread": "openclose_thread",
	"forum.endorse_comment": "endorse_comment",
	"forum.delete_comment": "delete_comment",
	"forum.see_all_cohorts": "see_all_cohorts",
	"forum.group_edit_content": "group_edit_content",
	"forum.group_delete_thread": "group_delete_thread",
	"forum.group_openclose_thread": "group_openclose_thread",
	"forum.group_endorse_comment": "group_endorse_comment",
	"forum.group_delete_comment": "group_delete_comment",
	"forum.manage_moderator": "manage_moderator",
}

# instructor_action_requirement maps instructor.<perm> to what it needs:
# "staff" (staff-level), "instructor" (instructor-level), "staff_or_researcher"
# (staff-level or data_researcher) or "research" (global staff or data_researcher).
instructor_action_requirement := {
	"instructor.allow_student_to_bypass_entrance_exam": "staff",
	"instructor.assign_to_cohorts": "staff",
	"instructor.edit_forum_roles": "staff",
	"instructor.edit_invoice_validation": "staff",
	"instructor.give_student_extension": "staff",
	"instructor.enroll": "staff",
	"instructor.exam_results": "staff",
	"instructor.override_grades": "staff",
	"instructor.email": "staff",
	"instructor.view_registration": "staff",
	"instructor.view_enrollments": "staff",
	"instructor.view_forum_members": "staff",
	"instructor.edit_course_access": "instructor",
	"instructor.beta_test": "instructor",
	"instructor.rescore_exams": "instructor",
	"instructor.enable_certificate_generation": "instructor",
	"instructor.generate_certificate_exceptions": "instructor",
	"instructor.generate_bulk_certificate_exceptions": "instructor",
	"instructor.start_certificate_generation": "instructor",
	"instructor.start_certificate_regeneration": "instructor",
	"instructor.certificate_exception_view": "instructor",
	"instructor.certificate_invalidation_view": "instructor",
	"instructor.view_issued_certificates": "staff_or_researcher",
	"instructor.enrollment_report": "staff_or_researcher",
	"instructor.view_coupons": "staff_or_researcher",
	"instructor.show_tasks": "staff_or_researcher",
	"instructor.view_dashboard": "staff_or_researcher",
	"instructor.research": "research",
}

# action_sets is, per resource type, the set of the pack's actions on it
# (written out so that the lookup on the hot path is a constant).
action_sets := {
	"course": {"studio.view_content", "studio.edit_content", "studio.view_users", "studio.edit_roles", "studio.edit_advanced_settings", "course.beta_access", "course.rerun", "forum.vote", "forum.unvote", "forum.create_thread", "forum.update_thread", "forum.follow_thread", "forum.unfollow_thread", "forum.create_comment", "forum.update_comment", "forum.create_sub_comment", "forum.follow_commentable", "forum.unfollow_commentable", "forum.edit_content", "forum.delete_thread", "forum.openclose_thread", "forum.endorse_comment", "forum.delete_comment", "forum.see_all_cohorts", "forum.group_edit_content", "forum.group_delete_thread", "forum.group_openclose_thread", "forum.group_endorse_comment", "forum.group_delete_comment", "forum.manage_moderator", "instructor.allow_student_to_bypass_entrance_exam", "instructor.assign_to_cohorts", "instructor.edit_forum_roles", "instructor.edit_invoice_validation", "instructor.give_student_extension", "instructor.enroll", "instructor.exam_results", "instructor.override_grades", "instructor.email", "instructor.view_registration", "instructor.view_enrollments", "instructor.view_forum_members", "instructor.edit_course_access", "instructor.beta_test", "instructor.rescore_exams", "instructor.enable_certificate_generation", "instructor.generate_certificate_exceptions", "instructor.generate_bulk_certificate_exceptions", "instructor.start_certificate_generation", "instructor.start_certificate_regeneration", "instructor.certificate_exception_view", "instructor.certificate_invalidation_view", "instructor.view_issued_certificates", "instructor.enrollment_report", "instructor.view_coupons", "instructor.show_tasks", "instructor.view_dashboard", "instructor.research"},
	"library": {"studio.view_content", "studio.edit_content", "studio.view_users", "studio.edit_roles", "studio.edit_advanced_settings"},
	"org": {"course.create"},
	"platform": {"organization.create"},
	"role": {"role.grant", "role.revoke"},
	"report": {"instructor.download_report"},
}

# actions is, per resource type, the sorted list of the pack's actions on it.
actions := {t: sort(s) | some t, s in action_sets}

# ---------------------------------------------------------------------------
# The subject.

# global_staff: is_staff on the user.
global_staff if input.subject.properties.is_staff == true

inactive if input.subject.properties.is_active == false

# global_roles are the subject's roles at the global scope.
global_roles := hooks.roles(input.subject.id, "global")

# ---------------------------------------------------------------------------
# The resource and its scope.

org_pattern := `^[\pL\pN_.~-]+$`

# target_key is the course or library key the request is about: the id of a
# course or library resource, properties.course of a report.
target_key := input.resource.id if input.resource.type in {"course", "library"}

target_key := input.resource.properties.course if input.resource.type == "report"

parsed := hooks.parse_key(target_key) if is_string(target_key)

valid_key if {
	input.resource.type in {"course", "report"}
	parsed.kind in {"course", "ccx"}
}

valid_key if {
	input.resource.type == "library"
	parsed.kind == "library"
}

ccx if {
	valid_key
	parsed.kind == "ccx"
}

# scope is the scope whose roles the request is judged by: the course or
# library of the resource, the org of an org resource, the scope of a role.
scope := concat(":", ["library", target_key]) if {
	input.resource.type == "library"
	valid_key
}

scope := concat(":", ["course", target_key]) if {
	input.resource.type in {"course", "report"}
	valid_key
}

scope := concat(":", ["org", input.resource.id]) if {
	input.resource.type == "org"
	valid_org(input.resource.id)
}

scope := role_scope if {
	input.resource.type == "role"
	role_scope_kind
}

valid_org(org) if {
	is_string(org)
	regex.match(org_pattern, org)
}

# roles are the subject's roles at scope, with org roles and implied roles.
roles := hooks.roles(input.subject.id, scope)

# staff-level: global staff, org or course instructor, org or course staff,
# course limited_staff.
staff_level if global_staff

staff_level if {
	some r in ["instructor", "staff", "limited_staff"]
	r in roles
}

# instructor-level: global staff, org or course instructor.
instructor_level if global_staff

instructor_level if "instructor" in roles

data_researcher if "data_researcher" in roles

# ---------------------------------------------------------------------------
# Requests every action denies.

deny contains "inactive user" if input.subject.properties.is_active == false

deny contains msg if {
	input.subject.type != "user"
	msg := sprintf("subject type %v is not user", [input.subject.type])
}

# known_action: the action is one of the pack's on the resource type.
known_action if action_sets[input.resource.type][input.action.name]

deny contains msg if {
	not known_action
	msg := sprintf("unknown action %v on resource type %v", [
		object.get(input, ["action", "name"], null),
		object.get(input, ["resource", "type"], null),
	])
}

deny contains msg if {
	input.resource.type == "course"
	not valid_key
	msg := sprintf("malformed course key %v", [object.get(input.resource, "id", null)])
}

deny contains msg if {
	input.resource.type == "library"
	not valid_key
	msg := sprintf("malformed library key %v", [object.get(input.resource, "id", null)])
}

deny contains msg if {
	input.resource.type == "report"
	not valid_key
	msg := sprintf("malformed course key %v in report properties.course", [object.get(input.resource.properties, "course", null)])
}

deny contains msg if {
	input.resource.type == "report"
	not report_type_ok
	msg := sprintf("malformed report type %v", [object.get(input.resource, "id", null)])
}

deny contains msg if {
	input.resource.type == "org"
	not resource_org_ok
	msg := sprintf("malformed org %v", [object.get(input.resource, "id", null)])
}

deny contains msg if {
	input.resource.type == "platform"
	not input.resource.id == "*"
	msg := sprintf("unknown platform %v (the platform resource is \"*\")", [object.get(input.resource, "id", null)])
}

# (A negated call such as `not valid_org(input.resource.id)` is undefined,
# not true, when its argument is undefined; hence these helper rules.)
report_type_ok if non_empty_string(input.resource.id)

resource_org_ok if valid_org(input.resource.id)

non_empty_string(s) if {
	is_string(s)
	s != ""
}

# ---------------------------------------------------------------------------
# why_not says what the action requires; it is the reason of a deny that no
# deny rule names.

default why_not := "no rule of pack openedx allows this request"

why_not := role_why_not if role_action

why_not := msg if {
	not role_action
	msg := action_why_not
}

action_why_not := msg if {
	perm := studio_action_perm[input.action.name]
	msg := studio_why_not[perm]
} else := msg if {
	perm := forum_action_perm[input.action.name]
	msg := sprintf("%v needs a forum role that holds %v on the course (global staff hold only see_all_cohorts)", [input.action.name, perm])
} else := msg if {
	input.resource.type == "report"
	msg := sprintf("instructor.download_report of %v needs %v on the course", [
		input.resource.id,
		report_requirement_text[report_requirement],
	])
} else := msg if {
	req := instructor_action_requirement[input.action.name]
	msg := sprintf("%v needs %v on the course", [input.action.name, requirement_text[req]])
} else := msg if {
	msg := other_why_not[input.action.name]
}

report_requirement_text := {
	"staff_or_researcher": "view_issued_certificates (staff-level or data_researcher)",
	"research": "research (global staff or data_researcher)",
}

requirement_text := {
	"staff": "staff-level (global staff, instructor or staff of the course or its org, or course limited_staff)",
	"instructor": "instructor-level (global staff, or instructor of the course or its org)",
	"staff_or_researcher": "staff-level or data_researcher",
	"research": "global staff or data_researcher",
}

studio_why_not := {
	"view_content": "studio.view_content needs instructor or staff on the course or its org, library_user on a library, or global staff (nobody has Studio access to CCX courses)",
	"edit_content": "studio.edit_content needs staff-level or limited_staff on the course (nobody has Studio access to CCX courses)",
	"view_users": "studio.view_users needs instructor or staff on the course or its org, library_user on a library, or global staff (nobody has Studio access to CCX courses)",
	"edit_roles": "studio.edit_roles needs instructor on the course or its org, or global staff (nobody has Studio access to CCX courses)",
	"edit_advanced_settings": advanced_settings_why_not,
}

advanced_settings_why_not := "studio.edit_advanced_settings needs global staff (DISABLE_ADVANCED_SETTINGS is set)" if {
	advanced_settings_disabled
} else := "studio.edit_advanced_settings needs studio.edit_content on the course (nobody has Studio access to CCX courses)"

other_why_not := {
	"course.beta_access": "course.beta_access needs beta_tester or staff-level on the course",
	"course.create": create_why_not,
	"course.rerun": "course.rerun needs studio.edit_content on the source course and course.create in context.target_org",
	"organization.create": organization_why_not,
}

create_why_not := "course.create needs global staff (DISABLE_COURSE_CREATION is set)" if {
	course_creation_disabled
} else := "course.create needs global staff, global course_creator, or course_creator in the org (ENABLE_CREATOR_GROUP is set)" if {
	creator_group_enabled
} else := "course.create needs an active user"

organization_why_not := "organization.create needs global staff (ENABLE_CREATOR_GROUP is set)" if {
	creator_group_enabled
} else := "organization.create needs an active user"
