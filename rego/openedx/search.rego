# Search candidates. Provost evaluates the full decision on every candidate,
# so a candidate set only has to include every id a search could allow;
# leaving it undefined means "every known entity of the type".
#
# Every rule here is guarded by the search's missing id (resource_search,
# subject_search), so that evaluating the whole package for a decision
# never pays for the hooks calls of a search.
package openedx

import rego.v1

import data.hooks

# pack_roles are every role of the pack.
pack_roles := {r | some rs in valid_roles; some r in rs}

# org roles that give permissions in the courses and libraries of the org.
course_org_roles := {"instructor", "staff", "data_researcher", "library_user"}

# ---------------------------------------------------------------------------
# Resource search (input without resource.id).

resource_search if not input.resource.id

subject_search if not input.subject.id

resource_candidates := resource_candidate_ids if resource_search

resource_candidate_ids := set() if {
	resource_search
	inactive
} else := set() if {
	resource_search
	not known_action
} else := set() if {
	resource_search
	input.action.name == "course.create"
	course_creation_disabled
	not global_staff
} else := creator_orgs if {
	resource_search
	input.action.name == "course.create"
	creator_group_enabled
	not global_staff
	not "course_creator" in global_roles
} else := scoped_keys if {
	# Every course and library action needs a role on it or global staff.
	resource_search
	input.resource.type in {"course", "library"}
	not global_staff
	not holds_course_org_role
}

# creator_orgs are the orgs where the subject holds course_creator.
creator_orgs := {substring(s, 4, -1) |
	resource_search
	some s in hooks.scopes(input.subject.id, "course_creator")
	startswith(s, "org:")
}

# scoped_keys are the keys of the courses (or libraries) where the subject
# holds any role directly.
scoped_keys := {substring(s, count(prefix), -1) |
	resource_search
	prefix := concat("", [input.resource.type, ":"])
	some r in pack_roles
	some s in hooks.scopes(input.subject.id, r)
	startswith(s, prefix)
}

holds_course_org_role if {
	resource_search
	some r in course_org_roles
	some s in hooks.scopes(input.subject.id, r)
	startswith(s, "org:")
}

# ---------------------------------------------------------------------------
# Subject search (input without subject.id).

subject_candidates := subject_candidate_ids if {
	subject_search

	# A request that makes every subject global staff lets all through.
	not global_staff
}

subject_candidate_ids := set() if {
	subject_search
	not known_action
} else := set() if {
	subject_search
	input.resource.type in {"course", "library", "report", "org", "role"}
	not scope
} else := team_members | staff_users if {
	subject_search
	input.resource.type in {"course", "library", "report"}
} else := staff_users if {
	subject_search
	input.action.name == "course.create"
	course_creation_disabled
} else := (hooks.members("global", "course_creator") | hooks.members(scope, "course_creator")) | staff_users if {
	subject_search
	input.action.name == "course.create"
	creator_group_enabled
} else := staff_users if {
	subject_search
	input.action.name == "organization.create"
	creator_group_enabled
} else := (team_members | staff_users) | {t | t := role_target} if {
	subject_search
	role_action
}

# team_members are the users holding any role at scope, or a role that
# counts in the courses and libraries of its org at the org.
team_members := {u |
	subject_search
	some r in pack_roles
	some u in hooks.members(scope, r)
} | {u |
	subject_search
	some s in array.slice(hooks.scope_chain(scope), 1, 2)
	some r in course_org_roles
	some u in hooks.members(s, r)
}

staff_users := hooks.users_where("is_staff", true) if subject_search
