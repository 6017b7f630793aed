# Package oppia is the OppiaMobile policy pack: what Admin (is_superuser),
# Staff (is_staff), course viewers and managers, the course owner, and the
# teachers and students of cohorts may do (SPEC section 7).
#
# The decision is allow exactly when `deny` is empty and `allow` is not.
# Roles come from package hooks: viewer and manager at "course:<id>" (a
# manager is also a viewer), teacher and student at "cohort:<id>". A cohort
# resource lists the course ids it covers in properties.courses.
#
# Every allow rule, and every deny rule bound to an action, starts with a
# test of input.action.name (`==`, or `in` a literal set, which OPA also
# indexes) so that OPA's rule index only evaluates the rules of the asked
# action. Search candidates live in search.rego.
package oppia

import data.hooks
import rego.v1

# actions lists, per resource type, every action of the pack. An action not
# listed for the request's resource type is unknown and denied.
actions := {
	"platform": [
		"activity.upload_logs",
		"admin.access",
		"analytics.view_server",
		"certificates.regenerate",
		"course.upload",
		"media.upload",
		"user.bulk_upload",
		"user.export",
	],
	"course": [
		"activity.download",
		"activity.view_detail",
		"activity.view_recent",
		"course.archive",
		"course.delete",
		"course.download",
		"course.edit",
		"course.update",
		"course.update_categories",
		"course.update_status",
		"course.view",
		"course.view_detail",
		"course.view_quizzes",
		"feedback.download_responses",
		"quiz.download_responses",
	],
	"cohort": [
		"cohort.add",
		"cohort.edit",
		"cohort.list",
		"cohort.view",
	],
	"user": [
		"activity.view",
		"user.change_password",
		"user.delete",
		"user.edit_profile",
		"user.view",
	],
}

# ---------------------------------------------------------------------------
# Facts about the request, each bound once per evaluation.

subject_props := object.get(input.subject, "properties", {})

resource_props := object.get(input.resource, "properties", {})

# admin is the Django superuser.
admin if subject_props.is_superuser == true

# staff holds every Staff permission; Admin holds them all, even without
# is_staff.
staff if subject_props.is_staff == true

staff if admin

# staff_reason names the reason of an allow by the Staff tier.
staff_reason := "admin" if admin

else := "staff"

# inactive is a user the store or the request marks is_active false
# (Provost merges both: false from either side wins).
inactive if subject_props.is_active == false

# profile_editing is the OPPIA_ALLOW_PROFILE_EDITING setting (default true).
# It is read from data.settings, not object.get(data, ...): a reference to
# the whole of data would include this package and be recursive.
default profile_editing := true

profile_editing := data.settings.OPPIA_ALLOW_PROFILE_EDITING

# id_str is an entity id as a string: ids are strings, but a calling app or a
# registered resource may write a numeric Oppia id (a cohort's courses, a
# course's owner, a user's course) as a JSON number.
id_str(x) := x if is_string(x)

id_str(x) := format_int(x, 10) if {
	is_number(x)
	x == floor(x)
}

# cohort_courses is the set of course ids a cohort covers, from the
# registered cohort resource ("cohort:<id>" scopes are accepted too).
cohort_courses(cohort) := {id_str(c) |
	id := trim_prefix(cohort, "cohort:")
	cs := object.get(hooks.resource("cohort", id), "courses", [])
	is_array(cs)
	some c in cs
}

# covers holds when the cohort of cohort_scope covers course.
covers(cohort_scope, course) if {
	startswith(cohort_scope, "cohort:")
	course in cohort_courses(cohort_scope)
}

# teacher_scopes are the "cohort:<id>" scopes the subject teaches.
teacher_scopes := hooks.scopes(input.subject.id, "teacher")

# member_scopes are the cohort scopes where the subject teaches or studies.
member_scopes := teacher_scopes | hooks.scopes(input.subject.id, "student")

# ---- course resources

course_scope := concat("", ["course:", input.resource.id]) if input.resource.type == "course"

# course_roles is the set of course roles the subject holds on the course
# (manager implies viewer; hooks applies the implication).
course_roles := hooks.roles(input.subject.id, course_scope)

course_manager if "manager" in course_roles

course_viewer if "viewer" in course_roles

course_owner if {
	input.resource.type == "course"
	id_str(resource_props.owner) == input.subject.id
}

# course_status is the course's status. A course with no status (or with an
# unrecognised one) counts as a draft: the restrictive choice, since a draft
# is only visible to its viewers and managers while a live course is visible
# to everyone.
course_status := s if {
	s := resource_props.status
	s in {"draft", "live", "archived"}
} else := "draft"

downloads_enabled if not resource_props.new_downloads_disabled == true

restricted if resource_props.restricted == true

# in_covering_cohort holds when the subject teaches or studies in a cohort
# that covers the course.
in_covering_cohort if {
	some s in member_scopes
	covers(s, input.resource.id)
}

# teaches_course holds when the subject teaches a cohort covering the course.
teaches_course if {
	some s in teacher_scopes
	covers(s, input.resource.id)
}

# manages_any_course holds when the subject manages at least one course.
manages_any_course if {
	some s in hooks.scopes(input.subject.id, "manager")
	startswith(s, "course:")
}

# ---- user resources

self if {
	input.resource.type == "user"
	input.resource.id == input.subject.id
}

# user_course is the course a user.view / activity.view request is about.
user_course := id_str(resource_props.course)

# teaches_target holds when the subject teaches a cohort in which the target
# user is a student and which covers user_course.
teaches_target if {
	course := user_course
	some s in hooks.scopes(input.resource.id, "student")
	s in teacher_scopes
	covers(s, course)
}

# ---------------------------------------------------------------------------
# deny: requirements that fail whatever else holds.

deny contains "inactive user" if inactive

deny contains sprintf("unknown action %q on resource type %q", [input.action.name, object.get(input.resource, "type", "")]) if {
	not known_action
}

# known_action holds when the action is listed for the resource type. (Kept
# a rule of its own: `not x in actions[t]` would be undefined, not true, for
# an unknown type t, as OPA evaluates the reference outside the negation.)
known_action if input.action.name in actions[input.resource.type]

deny contains `platform actions take the resource {"type": "platform", "id": "*"}` if {
	input.resource.type == "platform"
	input.resource.id != "*"
}

deny contains "course is archived: it is never downloadable" if {
	input.action.name == "course.download"
	course_status == "archived"
}

deny contains "course is archived: only admin and staff may view it" if {
	input.action.name == "course.view"
	course_status == "archived"
	not staff
}

# ---------------------------------------------------------------------------
# allow: one reason per rule that allows.

# Admin only.
allow contains "admin" if {
	input.action.name in {"admin.access", "user.bulk_upload", "user.delete"}
	admin
}

# Staff, and so Admin. course.download excludes archived courses by a deny.
allow contains staff_reason if {
	input.action.name in {
		"activity.download",
		"activity.upload_logs",
		"activity.view",
		"activity.view_detail",
		"activity.view_recent",
		"analytics.view_server",
		"certificates.regenerate",
		"cohort.add",
		"cohort.edit",
		"cohort.list",
		"cohort.view",
		"course.archive",
		"course.delete",
		"course.download",
		"course.edit",
		"course.update_categories",
		"course.update_status",
		"course.upload",
		"course.view",
		"course.view_detail",
		"course.view_quizzes",
		"feedback.download_responses",
		"media.upload",
		"quiz.download_responses",
		"user.change_password",
		"user.edit_profile",
		"user.export",
		"user.view",
	}
	staff
}

# course.upload, media.upload: the can_upload attribute, or managing any course.
allow contains "can_upload" if {
	input.action.name in {"course.upload", "media.upload"}
	subject_props.can_upload == true
}

allow contains "manager of a course" if {
	input.action.name in {"course.upload", "media.upload"}
	manages_any_course
}

# Course managers (course.update has no Staff or Admin exemption).
allow contains "course manager" if {
	input.action.name in {
		"course.edit",
		"course.update",
		"course.update_categories",
		"course.update_status",
		"course.view_detail",
	}
	course_manager
}

allow contains "course owner" if {
	input.action.name == "course.update"
	course_owner
}

# course.view: a live course, or a draft to its viewers and managers.
allow contains "live course" if {
	input.action.name == "course.view"
	course_status == "live"
}

allow contains "viewer of a draft course" if {
	input.action.name == "course.view"
	course_status == "draft"
	course_viewer
}

# course.download: a live course open to new downloads, unrestricted or to a
# member of a covering cohort; or a draft or live course to its viewers and
# managers.
allow contains "live course open for download" if {
	input.action.name == "course.download"
	course_status == "live"
	downloads_enabled
	not restricted
}

allow contains "member of a cohort covering the restricted course" if {
	input.action.name == "course.download"
	course_status == "live"
	downloads_enabled
	restricted
	in_covering_cohort
}

allow contains "course viewer" if {
	input.action.name == "course.download"
	course_status in {"draft", "live"}
	course_viewer
}

# Course activity, quizzes and feedback: teachers of a covering cohort.
allow contains "teacher of a cohort covering the course" if {
	input.action.name in {
		"activity.download",
		"activity.view_detail",
		"activity.view_recent",
		"course.view_quizzes",
		"feedback.download_responses",
		"quiz.download_responses",
	}
	teaches_course
}

# cohort.view: teachers of that cohort.
allow contains "teacher of the cohort" if {
	input.action.name == "cohort.view"
	input.resource.type == "cohort"
	"teacher" in hooks.roles(input.subject.id, concat("", ["cohort:", input.resource.id]))
}

# Users: self.
allow contains "self" if {
	input.action.name in {"activity.view", "user.change_password", "user.delete", "user.view"}
	self
}

allow contains "self, with profile editing enabled" if {
	input.action.name == "user.edit_profile"
	self
	profile_editing == true
}

# user.view, activity.view: a teacher sees the students of the cohorts they
# teach, in a course those cohorts cover.
allow contains "teacher of the student's cohort covering the course" if {
	input.action.name in {"activity.view", "user.view"}
	input.resource.type == "user"
	teaches_target
}

# ---------------------------------------------------------------------------
# why_not: what the action requires, the reason of a deny no deny rule names.

requirements := {
	"admin.access": "admin.access requires an admin (is_superuser)",
	"course.upload": "course.upload requires admin, staff, the can_upload attribute or managing a course",
	"media.upload": "media.upload requires admin, staff, the can_upload attribute or managing a course",
	"user.bulk_upload": "user.bulk_upload requires an admin (is_superuser)",
	"certificates.regenerate": "certificates.regenerate requires admin or staff",
	"user.export": "user.export requires admin or staff",
	"analytics.view_server": "analytics.view_server requires admin or staff",
	"activity.upload_logs": "activity.upload_logs requires admin or staff",
	"course.update": "course.update requires the course owner or a course manager (no one is exempt)",
	"course.update_categories": "course.update_categories requires admin, staff or a course manager",
	"course.update_status": "course.update_status requires admin, staff or a course manager",
	"course.archive": "course.archive requires admin or staff",
	"course.delete": "course.delete requires admin or staff",
	"course.view": "course.view requires admin, staff, a live course, or a viewer or manager of a draft course",
	"course.download": "course.download requires admin or staff, a live course open to new downloads that is unrestricted or covered by a cohort of the user, or a viewer or manager of a draft or live course",
	"course.edit": "course.edit requires admin, staff or a course manager",
	"course.view_detail": "course.view_detail requires admin, staff or a course manager",
	"activity.view_recent": "activity.view_recent requires admin, staff or a teacher of a cohort covering the course",
	"activity.view_detail": "activity.view_detail requires admin, staff or a teacher of a cohort covering the course",
	"activity.download": "activity.download requires admin, staff or a teacher of a cohort covering the course",
	"quiz.download_responses": "quiz.download_responses requires admin, staff or a teacher of a cohort covering the course",
	"feedback.download_responses": "feedback.download_responses requires admin, staff or a teacher of a cohort covering the course",
	"course.view_quizzes": "course.view_quizzes requires admin, staff or a teacher of a cohort covering the course",
	"cohort.list": "cohort.list requires admin or staff",
	"cohort.add": "cohort.add requires admin or staff",
	"cohort.edit": "cohort.edit requires admin or staff",
	"cohort.view": "cohort.view requires admin, staff or a teacher of the cohort",
	"user.view": "user.view requires admin, staff, the user themselves, or a teacher of a cohort in which the user is a student and which covers resource.properties.course",
	"activity.view": "activity.view requires admin, staff, the user themselves, or a teacher of a cohort in which the user is a student and which covers resource.properties.course",
	"user.edit_profile": "user.edit_profile requires admin, staff, or the user themselves when OPPIA_ALLOW_PROFILE_EDITING is on",
	"user.change_password": "user.change_password requires admin, staff or the user themselves",
	"user.delete": "user.delete requires an admin (is_superuser) or the user themselves",
}

default why_not := "no rule of the oppia pack allows this action"

why_not := "user.edit_profile: profile editing is disabled (OPPIA_ALLOW_PROFILE_EDITING is off) and the user is neither admin nor staff" if {
	input.action.name == "user.edit_profile"
	self
	profile_editing != true
} else := requirements[input.action.name]
