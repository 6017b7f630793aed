# Instructor dashboard (instructor.<permission> on a course), course beta
# access and report downloads. Global staff count on CCX courses here (only
# Studio excludes CCX).
package openedx

import rego.v1

# report_requirement: issued_certificates needs view_issued_certificates,
# every other report type needs research.
report_requirement := "staff_or_researcher" if {
	input.resource.id == "issued_certificates"
} else := "research"

# instructor_requirement is what the instructor.* action asks for.
instructor_requirement := instructor_action_requirement[input.action.name] if input.resource.type == "course"

instructor_requirement := report_requirement if {
	input.action.name == "instructor.download_report"
	input.resource.type == "report"
}

allow contains "staff-level" if {
	glob.match("instructor.*", ["."], input.action.name)
	instructor_requirement in {"staff", "staff_or_researcher"}
	staff_level
}

allow contains "instructor-level" if {
	glob.match("instructor.*", ["."], input.action.name)
	instructor_requirement == "instructor"
	instructor_level
}

allow contains "data_researcher" if {
	glob.match("instructor.*", ["."], input.action.name)
	instructor_requirement in {"staff_or_researcher", "research"}
	data_researcher
}

allow contains "global staff" if {
	glob.match("instructor.*", ["."], input.action.name)
	instructor_requirement == "research"
	global_staff
}

# course.beta_access (course content before its start): beta_tester or
# staff-level.
allow contains "beta_tester" if {
	input.action.name == "course.beta_access"
	"beta_tester" in roles
}

allow contains "staff-level" if {
	input.action.name == "course.beta_access"
	staff_level
}
