# Search candidates of the oppia pack. Provost evaluates the full decision on
# every candidate, so these sets only make searches fast: each one must hold
# every id the search could allow. Where that is not cheap to know, the set
# is left undefined, which means "every known entity of the type".
package oppia

import data.hooks
import rego.v1

# role_courses is the set of course ids at whose scope the subject holds role
# (or a role implying it).
role_courses(role) := {trim_prefix(s, "course:") |
	some s in hooks.scopes(input.subject.id, role)
	startswith(s, "course:")
}

# taught_cohorts is the set of cohort ids the subject teaches.
taught_cohorts := {trim_prefix(s, "cohort:") |
	some s in teacher_scopes
	startswith(s, "cohort:")
}

# request_sets(key) holds when the search request itself sets a resource
# property, which then applies to every candidate and may widen the search
# beyond what the stored properties say.
request_sets(key) if object.get(input.resource, ["properties", key], null) != null

# ---------------------------------------------------------------------------
# resource_candidates: for a resource search (no resource.id).

# An inactive subject may do nothing.
resource_candidates := set() if inactive

# course.view, course.download: live courses and the courses the subject
# views or manages, unless the request sets the status of every course.
resource_candidates := hooks.resources_where("course", "status", "live") | role_courses("viewer") if {
	input.action.name in {"course.download", "course.view"}
	input.resource.type == "course"
	not inactive
	not staff
	not request_sets("status")
}

resource_candidates := role_courses("manager") if {
	input.action.name in {"course.edit", "course.update_categories", "course.update_status", "course.view_detail"}
	input.resource.type == "course"
	not inactive
	not staff
}

# course.update: managed courses and the courses the subject owns, for
# everyone (no one is exempt), unless the request sets the owner.
resource_candidates := (role_courses("manager") | hooks.resources_where("course", "owner", input.subject.id)) | owned_by_number if {
	input.action.name == "course.update"
	input.resource.type == "course"
	not inactive
	not request_sets("owner")
}

resource_candidates := set() if {
	input.action.name in {"course.archive", "course.delete"}
	input.resource.type == "course"
	not inactive
	not staff
}

resource_candidates := {id_str(c) |
	some s in teacher_scopes
	some c in cohort_courses(s)
} if {
	input.action.name in {
		"activity.download",
		"activity.view_detail",
		"activity.view_recent",
		"course.view_quizzes",
		"feedback.download_responses",
		"quiz.download_responses",
	}
	input.resource.type == "course"
	not inactive
	not staff
}

resource_candidates := taught_cohorts if {
	input.action.name == "cohort.view"
	input.resource.type == "cohort"
	not inactive
	not staff
}

resource_candidates := set() if {
	input.action.name in {"cohort.add", "cohort.edit", "cohort.list"}
	input.resource.type == "cohort"
	not inactive
	not staff
}

# user.view, activity.view: the subject and, for a course, the students of the
# cohorts the subject teaches that cover it.
resource_candidates := {input.subject.id} | students_in_course if {
	input.action.name in {"activity.view", "user.view"}
	input.resource.type == "user"
	not inactive
	not staff
}

resource_candidates := {input.subject.id} if {
	input.action.name in {"user.change_password", "user.edit_profile"}
	input.resource.type == "user"
	not inactive
	not staff
}

resource_candidates := {input.subject.id} if {
	input.action.name == "user.delete"
	input.resource.type == "user"
	not inactive
	not admin
}

# owned_by_number holds the courses whose stored owner is the subject's id
# written as a JSON number.
default owned_by_number := set()

owned_by_number := hooks.resources_where("course", "owner", to_number(input.subject.id)) if {
	regex.match(`^[0-9]{1,15}$`, input.subject.id)
}

# students_in_course is the set of students of the cohorts the subject
# teaches that cover resource.properties.course (empty without a course).
students_in_course := {u |
	course := user_course
	some s in teacher_scopes
	covers(s, course)
	some u in hooks.members(s, "student")
}

# ---------------------------------------------------------------------------
# subject_candidates: for a subject search (no subject.id). The request's
# subject.properties apply to every candidate; when they make everyone staff
# or admin, the candidates are left undefined.

request_widens_subject if subject_props.is_staff == true

request_widens_subject if subject_props.is_superuser == true

superusers := hooks.users_where("is_superuser", true)

staff_users := hooks.users_where("is_staff", true) | superusers

subject_candidates := set() if inactive

subject_candidates := superusers if {
	input.action.name in {"admin.access", "user.bulk_upload"}
	input.resource.type == "platform"
	not inactive
	not request_widens_subject
}

subject_candidates := staff_users if {
	input.action.name in {
		"activity.upload_logs",
		"analytics.view_server",
		"certificates.regenerate",
		"user.export",
	}
	input.resource.type == "platform"
	not inactive
	not request_widens_subject
}

subject_candidates := hooks.members(course_scope, "manager") | course_owners if {
	input.action.name == "course.update"
	not inactive
}

subject_candidates := hooks.members(course_scope, "manager") | staff_users if {
	input.action.name in {"course.edit", "course.update_categories", "course.update_status", "course.view_detail"}
	not inactive
	not request_widens_subject
}

subject_candidates := staff_users if {
	input.action.name in {"course.archive", "course.delete"}
	input.resource.type == "course"
	not inactive
	not request_widens_subject
}

subject_candidates := staff_users if {
	input.action.name in {"cohort.add", "cohort.edit", "cohort.list"}
	input.resource.type == "cohort"
	not inactive
	not request_widens_subject
}

subject_candidates := hooks.members(concat("", ["cohort:", input.resource.id]), "teacher") | staff_users if {
	input.action.name == "cohort.view"
	input.resource.type == "cohort"
	not inactive
	not request_widens_subject
}

# user.view, activity.view: the user, staff, and the teachers of the cohorts
# where the user is a student that cover the course.
subject_candidates := ({input.resource.id} | staff_users) | target_teachers if {
	input.action.name in {"activity.view", "user.view"}
	input.resource.type == "user"
	not inactive
	not request_widens_subject
}

subject_candidates := {input.resource.id} | staff_users if {
	input.action.name in {"user.change_password", "user.edit_profile"}
	input.resource.type == "user"
	not inactive
	not request_widens_subject
}

subject_candidates := {input.resource.id} | superusers if {
	input.action.name == "user.delete"
	input.resource.type == "user"
	not inactive
	not request_widens_subject
}

# course_owners is the course's owner, as a set (empty when it has none).
course_owners := {id_str(resource_props.owner) | input.resource.type == "course"}

# target_teachers is the set of teachers of the cohorts where the target user
# is a student and that cover resource.properties.course.
target_teachers := {u |
	course := user_course
	some s in hooks.scopes(input.resource.id, "student")
	covers(s, course)
	some u in hooks.members(s, "teacher")
}
