package openedx

import data.hooks

# scope_errors says why a role may not be assigned at input.scope (input:
# {"scope", "role"}); Provost checks it before every grant and import row.
scope_errors contains msg if {
	key := trim_prefix(input.scope, "course:")
	key != input.scope
	not course_or_ccx(key)
	msg := sprintf("malformed course key %q: want course-v1:ORG+NUMBER+RUN or ccx-v1:ORG+NUMBER+RUN+ccx@N", [key])
}

course_or_ccx(key) if hooks.parse_key(key).kind in {"course", "ccx"}
