# Tests of the openedx pack, one or more per rule of SPEC section 6 and per
# exception. They run under stock OPA (`go tool opa test rego/openedx`): the
# hooks read data.store, set here with `with`; data.store.implies
# (instructor ⇒ staff ⇒ limited_staff, instructor ⇒ beta_tester) comes from
# testdata.json.
package openedx_test

import data.openedx
import rego.v1

# ---------------------------------------------------------------------------
# Store.

cs := "course-v1:Marvel+CS101+2026"

phy := "course-v1:Marvel+PHY201+2026"

law := "course-v1:DC+LAW101+2026"

ccx := "ccx-v1:Marvel+CS101+2026+ccx@3"

lib := "library-v1:Marvel+CompLib"

dclib := "library-v1:DC+JusticeLib"

cs_scope := concat(":", ["course", cs])

phy_scope := concat(":", ["course", phy])

law_scope := concat(":", ["course", law])

ccx_scope := concat(":", ["course", ccx])

lib_scope := concat(":", ["library", lib])

dclib_scope := concat(":", ["library", dclib])

roles := {
	"alice": {cs_scope: ["instructor"]},
	"bob": {cs_scope: ["staff"]},
	"carol": {cs_scope: ["limited_staff"]},
	"dave": {cs_scope: ["beta_tester"]},
	"erin": {cs_scope: ["data_researcher"]},
	"xena": {cs_scope: ["finance_admin", "sales_admin"]},
	"frank": {ccx_scope: ["ccx_coach"]},
	"ccxinst": {ccx_scope: ["instructor"]},
	"grace": {"org:Marvel": ["instructor"]},
	"heidi": {"org:Marvel": ["staff"]},
	"judy": {"org:Marvel": ["library_user"]},
	"trent": {"org:DC": ["data_researcher"]},
	"spiderman": {"org:Marvel": ["course_creator"]},
	"creator": {"global": ["course_creator"]},
	"walter": {"global": ["support"]},
	"ivan": {lib_scope: ["library_user"]},
	"kate": {lib_scope: ["instructor"]},
	"leo": {lib_scope: ["staff"]},
	"mallory": {cs_scope: ["forum_administrator"]},
	"nadia": {cs_scope: ["staff", "forum_administrator"]},
	"nina": {cs_scope: ["forum_moderator"]},
	"oscar": {cs_scope: ["forum_group_moderator"]},
	"peggy": {cs_scope: ["forum_community_ta"]},
	"quinn": {cs_scope: ["forum_student"]},
	"rupert": {cs_scope: ["forum_student", "forum_moderator"]},
	"staffmod": {cs_scope: ["forum_moderator"]},
	"staffstudent": {cs_scope: ["forum_student"]},
	"uma": {law_scope: ["instructor"]},
	"victor": {law_scope: ["instructor"]},
	"yvonne": {phy_scope: ["instructor"]},
	"zed": {law_scope: ["staff"]},
}

# Global staff are marked in the request (Provost merges the stored user
# into subject.properties); data.store.users feeds users_where.
staff_ids := {"admin", "staffmod", "staffstudent"}

users := {u: {"is_active": true, "is_staff": true, "is_superuser": false} | some u in staff_ids}

# ---------------------------------------------------------------------------
# Request builders and the decision.

props(user) := {"is_active": true, "is_staff": true, "is_superuser": false} if {
	user in staff_ids
} else := {"is_active": true, "is_staff": false, "is_superuser": false}

subj(user) := {"type": "user", "id": user, "properties": props(user)}

req(user, action, type, id) := {
	"subject": subj(user),
	"action": {"name": action},
	"resource": {"type": type, "id": id, "properties": {}},
	"context": {},
}

on_course(user, action, key) := req(user, action, "course", key)

on_library(user, action, key) := req(user, action, "library", key)

create_in(user, org) := req(user, "course.create", "org", org)

rerun(user, source, target) := object.union(req(user, "course.rerun", "course", source), {"context": {"target_org": target}})

report(user, type, course) := {
	"subject": subj(user),
	"action": {"name": "instructor.download_report"},
	"resource": {"type": "report", "id": type, "properties": {"course": course}},
	"context": {},
}

role_req(caller, action, role, scope, target) := {
	"subject": subj(caller),
	"action": {"name": action},
	"resource": {"type": "role", "id": role, "properties": {"scope": scope, "user": target}},
	"context": {},
}

grant(caller, role, scope, target) := role_req(caller, "role.grant", role, scope, target)

revoke(caller, role, scope, target) := role_req(caller, "role.revoke", role, scope, target)

inactive(q) := json.patch(q, [{"op": "replace", "path": "/subject/properties/is_active", "value": false}])

with_resource_props(q, p) := json.patch(q, [{"op": "replace", "path": "/resource/properties", "value": p}])

result(q, settings) := result_roles(q, settings, roles)

result_roles(q, settings, rs) := {"allow": a, "deny": d, "why_not": w} if {
	a := openedx.allow with input as q with data.store.roles as rs with data.store.users as users with data.settings as settings
	d := openedx.deny with input as q with data.store.roles as rs with data.store.users as users with data.settings as settings
	w := openedx.why_not with input as q with data.store.roles as rs with data.store.users as users with data.settings as settings
}

# allowed_roles(q, settings, rs): allowed with the store roles rs.
allowed_roles(q, settings, rs) if {
	r := result_roles(q, settings, rs)
	count(r.deny) == 0
	count(r.allow) > 0
}

allowed_with(q, settings) if {
	r := result(q, settings)
	count(r.deny) == 0
	count(r.allow) > 0
}

allowed(q) if allowed_with(q, {})

denied(q) if not allowed(q)

denied_with(q, settings) if not allowed_with(q, settings)

# deny_reason(q, prefix) holds when a deny reason of q starts with prefix.
deny_reason(q, prefix) if {
	some d in result(q, {}).deny
	startswith(d, prefix)
}

deny_reason_with(q, settings, prefix) if {
	some d in result(q, settings).deny
	startswith(d, prefix)
}

why_not(q, settings) := result(q, settings).why_not

creator_group := {"ENABLE_CREATOR_GROUP": true}

creation_disabled := {"DISABLE_COURSE_CREATION": true}

both_flags := {"ENABLE_CREATOR_GROUP": true, "DISABLE_COURSE_CREATION": true}

advanced_disabled := {"DISABLE_ADVANCED_SETTINGS": true}

studio_bits := ["view_content", "edit_content", "view_users", "edit_roles"]

# studio(user, key, type) is the set of Studio bits user holds.
studio(user, key, type) := {b |
	some b in studio_bits
	allowed(req(user, concat(".", ["studio", b]), type, key))
}

all_bits := {"view_content", "edit_content", "view_users", "edit_roles"}

staff_bits := {"view_content", "edit_content", "view_users"}

# forum(user, key) is the set of forum permissions user holds on key.
forum(user, key) := {p |
	some a, p in openedx.forum_action_perm
	allowed(on_course(user, a, key))
}

forum_with_props(user, key, p) := {perm |
	some a, perm in openedx.forum_action_perm
	allowed(with_resource_props(on_course(user, a, key), p))
}

# dashboard(user, key) is the set of instructor.* permissions user holds.
dashboard(user, key) := {trim_prefix(a, "instructor.") |
	some a, _ in openedx.instructor_action_requirement
	allowed(on_course(user, a, key))
}

# ---------------------------------------------------------------------------
# Action table.

test_actions_per_type if {
	count(openedx.actions.course) == 58
	openedx.actions.library == sort([
		"studio.view_content", "studio.edit_content", "studio.view_users",
		"studio.edit_roles", "studio.edit_advanced_settings",
	])
	openedx.actions.org == ["course.create"]
	openedx.actions.platform == ["organization.create"]
	openedx.actions.role == ["role.grant", "role.revoke"]
	openedx.actions.report == ["instructor.download_report"]
	every a in openedx.actions.library {
		a in openedx.actions.course
	}
	"course.beta_access" in openedx.actions.course
	"course.rerun" in openedx.actions.course
}

test_actions_cover_every_forum_and_instructor_permission if {
	every a, _ in openedx.forum_action_perm {
		a in openedx.actions.course
	}
	every a, _ in openedx.instructor_action_requirement {
		a in openedx.actions.course
	}
	count(openedx.forum_action_perm) == 23
	count(openedx.instructor_action_requirement) == 28
	every a, p in openedx.forum_action_perm {
		a == concat(".", ["forum", p])
	}
}

test_forum_lists_compose if {
	p := openedx.forum_role_permissions
	count(p.forum_student) == 11
	p.forum_moderator == p.forum_student | {"edit_content", "delete_thread", "openclose_thread", "endorse_comment", "delete_comment", "see_all_cohorts"}
	p.forum_community_ta == p.forum_moderator
	p.forum_group_moderator == p.forum_student | {"group_edit_content", "group_delete_thread", "group_openclose_thread", "group_endorse_comment", "group_delete_comment"}
	p.forum_administrator == p.forum_moderator | {"manage_moderator"}
}

test_instructor_requirement_counts if {
	r := openedx.instructor_action_requirement
	count({a | r[a] == "staff"}) == 12
	count({a | r[a] == "instructor"}) == 10
	count({a | r[a] == "staff_or_researcher"}) == 5
	count({a | r[a] == "research"}) == 1
}

test_valid_roles_match_csv if {
	openedx.valid_roles.global == {"course_creator", "support"}
	openedx.valid_roles.org == {"instructor", "staff", "data_researcher", "library_user", "course_creator"}
	count(openedx.valid_roles.course) == 13
	openedx.valid_roles.library == {"instructor", "staff", "library_user"}
}

# ---------------------------------------------------------------------------
# Inactive subjects are denied everything.

test_inactive_denied_everything if {
	every q in [
		on_course("admin", "studio.view_content", cs),
		on_course("alice", "studio.edit_roles", cs),
		on_course("quinn", "forum.vote", cs),
		on_course("admin", "instructor.research", cs),
		create_in("sybil", "Marvel"),
		req("sybil", "organization.create", "platform", "*"),
		grant("admin", "staff", cs_scope, "sybil"),
		revoke("bob", "staff", cs_scope, "bob"),
		report("erin", "grade", cs),
	] {
		allowed(q)
		denied(inactive(q))
		deny_reason(inactive(q), "inactive user")
	}
}

test_missing_is_active_is_active if {
	allowed({"subject": {"type": "user", "id": "sybil", "properties": {}}, "action": {"name": "course.create"}, "resource": {"type": "org", "id": "Marvel", "properties": {}}, "context": {}})
}

test_subject_must_be_a_user if {
	q := json.patch(on_course("admin", "studio.view_content", cs), [{"op": "replace", "path": "/subject/type", "value": "service"}])
	denied(q)
	deny_reason(q, "subject type")
}

# ---------------------------------------------------------------------------
# Unknown actions and malformed resources.

test_unknown_action_denied if {
	every q in [
		on_course("admin", "studio.delete_course", cs),
		on_course("admin", "course.create", cs),
		req("admin", "studio.view_content", "org", "Marvel"),
		on_course("admin", "instructor.download_report", cs),
		on_course("admin", "forum.fly", cs),
		on_library("admin", "course.beta_access", lib),
		on_library("admin", "instructor.enroll", lib),
		req("admin", "role.grant", "course", cs),
		req("admin", "studio.view_content", "cohort", "7"),
		req("admin", "organization.create", "org", "Marvel"),
	] {
		denied(q)
		deny_reason(q, "unknown action")
	}
}

test_unknown_action_without_name if {
	q := json.remove(on_course("admin", "studio.view_content", cs), ["/action/name"])
	denied(q)
	deny_reason(q, "unknown action")
}

test_malformed_course_keys if {
	every key in ["CS101", "course-v1:Marvel+CS101", "Marvel/CS101/2026", lib, "ccx-v1:Marvel+CS101+2026+ccx@x", ""] {
		denied(on_course("admin", "studio.view_content", key))
		deny_reason(on_course("admin", "instructor.enroll", key), "malformed course key")
	}
}

test_malformed_library_keys if {
	every key in [cs, "library-v1:Marvel", ccx] {
		denied(on_library("admin", "studio.view_content", key))
		deny_reason(on_library("admin", "studio.view_content", key), "malformed library key")
	}
}

test_course_resource_without_id if {
	q := json.remove(on_course("admin", "studio.view_content", cs), ["/resource/id"])
	denied(q)
}

test_malformed_org if {
	every org in ["Mar vel", "org:Marvel", ""] {
		denied(create_in("admin", org))
		deny_reason(create_in("sybil", org), "malformed org")
	}
	denied(json.remove(create_in("admin", "Marvel"), ["/resource/id"]))
}

test_platform_is_star if {
	allowed(req("admin", "organization.create", "platform", "*"))
	denied(req("admin", "organization.create", "platform", "main"))
	deny_reason(req("admin", "organization.create", "platform", "main"), "unknown platform")
	denied(json.remove(req("sybil", "organization.create", "platform", "*"), ["/resource/id"]))
}

# ---------------------------------------------------------------------------
# Studio bitmask.

test_studio_global_staff_all_bits if {
	studio("admin", cs, "course") == all_bits
	studio("admin", law, "course") == all_bits
	studio("admin", lib, "library") == all_bits
	studio("admin", "course-v1:Nowhere+X+1", "course") == all_bits
}

test_studio_instructors_all_bits if {
	studio("alice", cs, "course") == all_bits
	studio("grace", cs, "course") == all_bits
	studio("grace", phy, "course") == all_bits
	studio("uma", law, "course") == all_bits
}

test_studio_staff_three_bits if {
	studio("bob", cs, "course") == staff_bits
	studio("heidi", cs, "course") == staff_bits
	studio("heidi", phy, "course") == staff_bits
	studio("zed", law, "course") == staff_bits
}

test_studio_limited_staff_edit_content_only if {
	studio("carol", cs, "course") == {"edit_content"}
}

test_studio_no_bits_without_studio_role if {
	every u in ["dave", "erin", "xena", "quinn", "mallory", "sybil", "spiderman", "creator", "walter", "judy", "ivan", "kate"] {
		studio(u, cs, "course") == set()
	}
}

test_studio_roles_do_not_cross_courses_or_orgs if {
	studio("alice", phy, "course") == set()
	studio("bob", law, "course") == set()
	studio("grace", law, "course") == set()
	studio("heidi", law, "course") == set()
	studio("uma", cs, "course") == set()
}

test_studio_library_roles if {
	studio("kate", lib, "library") == all_bits
	studio("leo", lib, "library") == staff_bits
	studio("ivan", lib, "library") == {"view_content", "view_users"}
	studio("judy", lib, "library") == {"view_content", "view_users"}
	studio("grace", lib, "library") == all_bits
	studio("heidi", lib, "library") == staff_bits
	studio("alice", lib, "library") == set()
	studio("kate", dclib, "library") == set()
	studio("judy", dclib, "library") == set()
	studio("ivan", dclib, "library") == set()
}

test_studio_library_user_gives_nothing_on_courses if {
	studio("judy", cs, "course") == set()
}

test_studio_ccx_nothing_for_everyone if {
	every u in ["admin", "ccxinst", "frank", "grace", "alice"] {
		studio(u, ccx, "course") == set()
		denied(on_course(u, "studio.edit_advanced_settings", ccx))
	}
	deny_reason(on_course("admin", "studio.view_content", ccx), "nobody has Studio access to CCX")
}

test_studio_edit_advanced_settings_follows_edit_content if {
	every u in ["admin", "alice", "grace", "bob", "heidi", "carol"] {
		allowed(on_course(u, "studio.edit_advanced_settings", cs))
	}
	allowed(on_library("kate", "studio.edit_advanced_settings", lib))
	denied(on_library("ivan", "studio.edit_advanced_settings", lib))
	denied(on_course("dave", "studio.edit_advanced_settings", cs))
}

test_studio_advanced_settings_disabled_global_staff_only if {
	allowed_with(on_course("admin", "studio.edit_advanced_settings", cs), advanced_disabled)
	every u in ["alice", "grace", "bob", "carol"] {
		denied_with(on_course(u, "studio.edit_advanced_settings", cs), advanced_disabled)
		allowed_with(on_course(u, "studio.edit_content", cs), advanced_disabled)
	}
	denied_with(on_course("admin", "studio.edit_advanced_settings", ccx), advanced_disabled)
	contains(why_not(on_course("alice", "studio.edit_advanced_settings", cs), advanced_disabled), "DISABLE_ADVANCED_SETTINGS")
}

test_studio_why_not if {
	why_not(on_course("dave", "studio.edit_content", cs), {}) == "studio.edit_content needs staff-level or limited_staff on the course (nobody has Studio access to CCX courses)"
	contains(why_not(on_course("bob", "studio.edit_roles", cs), {}), "instructor")
}

test_studio_allow_reason_names_the_role if {
	result(on_course("carol", "studio.edit_content", cs), {}).allow == {"course limited_staff"}
	result(on_course("grace", "studio.edit_roles", cs), {}).allow == {"instructor of the course or its org"}
}

# ---------------------------------------------------------------------------
# course.beta_access.

test_beta_access if {
	every u in ["dave", "alice", "bob", "carol", "grace", "heidi", "admin"] {
		allowed(on_course(u, "course.beta_access", cs))
	}
	every u in ["erin", "xena", "quinn", "mallory", "sybil", "judy"] {
		denied(on_course(u, "course.beta_access", cs))
	}
	allowed(on_course("admin", "course.beta_access", ccx))
	denied(on_course("dave", "course.beta_access", phy))
}

# ---------------------------------------------------------------------------
# course.create.

test_create_global_staff_always if {
	every s in [{}, creator_group, creation_disabled, both_flags] {
		allowed_with(create_in("admin", "Marvel"), s)
		allowed_with(create_in("admin", "DC"), s)
	}
}

test_create_open_by_default if {
	every u in ["sybil", "spiderman", "nobody", "alice"] {
		allowed(create_in(u, "Marvel"))
		allowed(create_in(u, "DC"))
	}
}

test_create_creator_group if {
	allowed_with(create_in("creator", "Marvel"), creator_group)
	allowed_with(create_in("creator", "DC"), creator_group)
	allowed_with(create_in("spiderman", "Marvel"), creator_group)
	denied_with(create_in("spiderman", "DC"), creator_group)
	every u in ["sybil", "alice", "grace", "walter", "nobody"] {
		denied_with(create_in(u, "Marvel"), creator_group)
	}
	contains(why_not(create_in("spiderman", "DC"), creator_group), "ENABLE_CREATOR_GROUP")
}

test_create_disabled_closes_everyone_but_global_staff if {
	every s in [creation_disabled, both_flags] {
		every u in ["creator", "spiderman", "sybil", "grace"] {
			denied_with(create_in(u, "Marvel"), s)
			deny_reason_with(create_in(u, "Marvel"), s, "course creation is disabled")
		}
	}
	contains(why_not(create_in("sybil", "Marvel"), creation_disabled), "DISABLE_COURSE_CREATION")
}

# ---------------------------------------------------------------------------
# organization.create.

test_organization_create if {
	org := req("sybil", "organization.create", "platform", "*")
	allowed(org)
	allowed_with(org, creation_disabled)
	denied_with(org, creator_group)
	denied_with(org, both_flags)
	denied_with(req("creator", "organization.create", "platform", "*"), creator_group)
	allowed_with(req("admin", "organization.create", "platform", "*"), both_flags)
	contains(why_not(org, creator_group), "global staff")
}

# ---------------------------------------------------------------------------
# course.rerun.

test_rerun_needs_edit_content_and_create if {
	allowed(rerun("alice", cs, "Marvel"))
	allowed(rerun("alice", cs, "DC"))
	allowed(rerun("bob", cs, "Marvel"))
	allowed(rerun("carol", cs, "Marvel"))
	allowed(rerun("grace", phy, "Oscorp"))
	denied(rerun("dave", cs, "Marvel"))
	denied(rerun("sybil", cs, "Marvel"))
	denied(rerun("erin", cs, "Marvel"))
}

test_rerun_needs_target_org if {
	q := on_course("admin", "course.rerun", cs)
	denied(q)
	deny_reason(q, "course.rerun needs context.target_org")
	denied(rerun("alice", cs, "bad org!"))
	deny_reason(rerun("alice", cs, "bad org!"), "malformed context.target_org")
	denied(rerun("alice", cs, 7))
}

test_rerun_of_ccx_denied if {
	denied(rerun("admin", ccx, "Marvel"))
	denied(rerun("ccxinst", ccx, "Marvel"))
	deny_reason(rerun("admin", ccx, "Marvel"), "nobody has Studio access to CCX")
}

test_rerun_with_creator_group if {
	denied_with(rerun("alice", cs, "Marvel"), creator_group)
	allowed_with(rerun("admin", cs, "DC"), creator_group)
	r := {"alice": {cs_scope: ["instructor"], "org:Marvel": ["course_creator"]}}
	allowed_roles(rerun("alice", cs, "Marvel"), creator_group, r)
	not allowed_roles(rerun("alice", cs, "DC"), creator_group, r)
	g := {"alice": {cs_scope: ["instructor"], "global": ["course_creator"]}}
	allowed_roles(rerun("alice", cs, "DC"), creator_group, g)
	denied_with(rerun("creator", cs, "Marvel"), creator_group)
}

test_rerun_with_creation_disabled if {
	denied_with(rerun("alice", cs, "Marvel"), creation_disabled)
	deny_reason_with(rerun("alice", cs, "Marvel"), creation_disabled, "course creation is disabled")
	allowed_with(rerun("admin", cs, "Marvel"), creation_disabled)
	allowed_with(rerun("admin", cs, "Marvel"), both_flags)
}

# ---------------------------------------------------------------------------
# Role management.

test_global_staff_grants_anything if {
	every q in [
		grant("admin", "staff", cs_scope, "sybil"),
		grant("admin", "course_creator", "global", "sybil"),
		grant("admin", "course_creator", "org:DC", "sybil"),
		grant("admin", "support", "global", "sybil"),
		grant("admin", "instructor", "org:DC", "sybil"),
		grant("admin", "library_user", "org:Marvel", "sybil"),
		grant("admin", "forum_moderator", cs_scope, "sybil"),
		grant("admin", "ccx_coach", ccx_scope, "sybil"),
		grant("admin", "library_user", dclib_scope, "sybil"),
		revoke("admin", "staff", "org:Marvel", "heidi"),
		revoke("admin", "course_creator", "org:Marvel", "spiderman"),
	] {
		allowed(q)
	}
}

test_nobody_else_grants_creator_or_support if {
	every caller in ["alice", "grace", "spiderman", "creator", "walter", "kate"] {
		denied(grant(caller, "course_creator", "global", "sybil"))
		denied(grant(caller, "course_creator", "org:Marvel", "sybil"))
		denied(grant(caller, "support", "global", "sybil"))
	}
	every caller in ["alice", "grace", "creator", "walter", "kate"] {
		denied(revoke(caller, "course_creator", "org:Marvel", "spiderman"))
	}
	every caller in ["alice", "grace", "spiderman", "creator", "kate"] {
		denied(revoke(caller, "support", "global", "walter"))
	}
}

test_course_roles_need_course_instructor if {
	every role in ["instructor", "staff", "limited_staff", "beta_tester", "data_researcher", "ccx_coach", "finance_admin", "sales_admin"] {
		allowed(grant("alice", role, cs_scope, "sybil"))
		allowed(grant("grace", role, cs_scope, "sybil"))
		denied(grant("bob", role, cs_scope, "sybil"))
		denied(grant("heidi", role, cs_scope, "sybil"))
		denied(grant("carol", role, cs_scope, "sybil"))
		denied(grant("alice", role, law_scope, "sybil"))
		denied(grant("grace", role, law_scope, "sybil"))
	}
	allowed(revoke("alice", "staff", cs_scope, "bob"))
	denied(revoke("bob", "beta_tester", cs_scope, "dave"))
	contains(why_not(grant("bob", "staff", cs_scope, "sybil"), {}), "needs instructor of the course or its org")
}

test_course_roles_on_ccx if {
	allowed(grant("ccxinst", "ccx_coach", ccx_scope, "sybil"))
	allowed(grant("grace", "ccx_coach", ccx_scope, "sybil"))
	denied(grant("alice", "ccx_coach", ccx_scope, "sybil"))
	denied(grant("ccxinst", "staff", cs_scope, "sybil"))
}

test_org_roles_only_global_staff if {
	every caller in ["grace", "heidi", "alice", "spiderman", "judy", "trent"] {
		every role in ["instructor", "staff", "data_researcher", "library_user", "course_creator"] {
			denied(grant(caller, role, "org:Marvel", "sybil"))
		}
	}
	denied(revoke("grace", "staff", "org:Marvel", "heidi"))
	contains(why_not(grant("grace", "staff", "org:Marvel", "sybil"), {}), "needs global staff")
}

test_library_roles if {
	every role in ["instructor", "staff", "library_user"] {
		allowed(grant("kate", role, lib_scope, "sybil"))
		allowed(grant("grace", role, lib_scope, "sybil"))
		denied(grant("leo", role, lib_scope, "sybil"))
		denied(grant("ivan", role, lib_scope, "sybil"))
		denied(grant("heidi", role, lib_scope, "sybil"))
		denied(grant("alice", role, lib_scope, "sybil"))
		denied(grant("kate", role, dclib_scope, "sybil"))
		denied(grant("grace", role, dclib_scope, "sybil"))
	}
	allowed(revoke("kate", "library_user", lib_scope, "ivan"))
}

test_forum_student_needs_staff_level if {
	every caller in ["admin", "alice", "grace", "bob", "heidi", "carol", "nadia"] {
		allowed(grant(caller, "forum_student", cs_scope, "sybil"))
	}
	every caller in ["dave", "erin", "mallory", "nina", "quinn", "sybil"] {
		denied(grant(caller, "forum_student", cs_scope, "sybil"))
	}
}

test_forum_moderation_roles if {
	every role in ["forum_moderator", "forum_group_moderator", "forum_community_ta"] {
		# instructor.edit_forum_roles and instructor-level
		allowed(grant("alice", role, cs_scope, "sybil"))
		allowed(grant("grace", role, cs_scope, "sybil"))
		allowed(grant("admin", role, cs_scope, "sybil"))

		# instructor.edit_forum_roles and forum_administrator
		allowed(grant("nadia", role, cs_scope, "sybil"))
		allowed(revoke("nadia", role, cs_scope, "nina"))

		# forum_administrator without instructor.edit_forum_roles
		denied(grant("mallory", role, cs_scope, "sybil"))

		# instructor.edit_forum_roles without either
		denied(grant("bob", role, cs_scope, "sybil"))
		denied(grant("carol", role, cs_scope, "sybil"))
		denied(grant("nina", role, cs_scope, "sybil"))
	}
	contains(why_not(grant("mallory", "forum_moderator", cs_scope, "sybil"), {}), "instructor.edit_forum_roles")
}

test_forum_rule_overrides_course_role_rule if {
	# nadia is no course instructor, yet may grant moderators...
	denied(grant("nadia", "staff", cs_scope, "sybil"))
	allowed(grant("nadia", "forum_moderator", cs_scope, "sybil"))

	# ...and a forum administrator is no instructor.
	denied(grant("nadia", "forum_administrator", cs_scope, "sybil"))
}

test_forum_administrator_needs_instructor_level if {
	allowed(grant("alice", "forum_administrator", cs_scope, "sybil"))
	allowed(grant("grace", "forum_administrator", cs_scope, "sybil"))
	allowed(grant("admin", "forum_administrator", cs_scope, "sybil"))
	denied(grant("bob", "forum_administrator", cs_scope, "sybil"))
	denied(grant("mallory", "forum_administrator", cs_scope, "sybil"))
	contains(why_not(grant("bob", "forum_administrator", cs_scope, "sybil"), {}), "instructor-level")
}

test_self_revoke_anything if {
	every q in [
		revoke("bob", "staff", cs_scope, "bob"),
		revoke("dave", "beta_tester", cs_scope, "dave"),
		revoke("quinn", "forum_student", cs_scope, "quinn"),
		revoke("nina", "forum_moderator", cs_scope, "nina"),
		revoke("mallory", "forum_administrator", cs_scope, "mallory"),
		revoke("spiderman", "course_creator", "org:Marvel", "spiderman"),
		revoke("creator", "course_creator", "global", "creator"),
		revoke("walter", "support", "global", "walter"),
		revoke("grace", "instructor", "org:Marvel", "grace"),
		revoke("ivan", "library_user", lib_scope, "ivan"),
		revoke("sybil", "staff", cs_scope, "sybil"),
		revoke("victor", "instructor", law_scope, "victor"),
	] {
		allowed(q)
		"self-revoke" in result(q, {}).allow
	}
}

test_no_self_grant if {
	denied(grant("bob", "instructor", cs_scope, "bob"))
	denied(grant("sybil", "course_creator", "global", "sybil"))
	denied(grant("spiderman", "course_creator", "org:DC", "spiderman"))
}

test_inactive_cannot_self_revoke if {
	denied(inactive(revoke("bob", "staff", cs_scope, "bob")))
}

test_last_instructor_never_revoked if {
	every caller in ["alice", "admin", "grace"] {
		denied(revoke(caller, "instructor", cs_scope, "alice"))
		deny_reason(revoke(caller, "instructor", cs_scope, "alice"), "last_instructor")
	}

	# org instructors do not count: yvonne is the only direct instructor
	# of PHY201 although grace instructs all of Marvel.
	deny_reason(revoke("admin", "instructor", phy_scope, "yvonne"), "last_instructor")
	deny_reason(revoke("admin", "instructor", ccx_scope, "ccxinst"), "last_instructor")
}

test_one_of_two_instructors_revocable if {
	allowed(revoke("uma", "instructor", law_scope, "victor"))
	allowed(revoke("admin", "instructor", law_scope, "uma"))
	allowed(revoke("victor", "instructor", law_scope, "victor"))
}

test_last_instructor_other_changes_allowed if {
	allowed(grant("admin", "instructor", cs_scope, "alice"))
	allowed(revoke("alice", "staff", cs_scope, "alice"))
	allowed(revoke("admin", "instructor", "org:Marvel", "grace"))

	# a user who does not hold instructor directly is not the last one
	allowed(revoke("admin", "instructor", cs_scope, "grace"))
}

test_role_resource_validation if {
	deny_reason(grant("admin", "instructor", "global", "sybil"), "role instructor is not valid at global scope")
	deny_reason(grant("admin", "limited_staff", "org:Marvel", "sybil"), "role limited_staff is not valid at org scope")
	deny_reason(grant("admin", "forum_student", lib_scope, "sybil"), "role forum_student is not valid at library scope")
	deny_reason(grant("admin", "support", cs_scope, "sybil"), "role support is not valid at course scope")
	deny_reason(grant("admin", "superhero", cs_scope, "sybil"), "role superhero is not valid")
	deny_reason(grant("admin", "is_staff", "global", "sybil"), "role is_staff is not valid")
	every s in ["course:bogus", "cohort:5", concat(":", ["course", lib]), "org:", "org:Mar vel", "library:bogus", "Marvel"] {
		deny_reason(grant("admin", "staff", s, "sybil"), "malformed role scope")
	}
	deny_reason(json.remove(grant("admin", "staff", cs_scope, "sybil"), ["/resource/properties/user"]), "role resource needs properties.user")
	deny_reason(json.remove(grant("admin", "staff", cs_scope, "sybil"), ["/resource/properties/scope"]), "malformed role scope")
	deny_reason(grant("admin", "staff", cs_scope, ""), "role resource needs properties.user")
	denied(revoke("bob", "staff", "global", "bob"))
}

# ---------------------------------------------------------------------------
# Forum permissions.

forum_student := openedx.forum_role_permissions.forum_student

forum_moderator := openedx.forum_role_permissions.forum_moderator

test_forum_exact_lists if {
	forum("quinn", cs) == forum_student
	forum("nina", cs) == forum_moderator
	forum("peggy", cs) == forum_moderator
	forum("oscar", cs) == openedx.forum_role_permissions.forum_group_moderator
	forum("mallory", cs) == openedx.forum_role_permissions.forum_administrator
	forum("rupert", cs) == forum_moderator
	"manage_moderator" in forum("mallory", cs)
	not "manage_moderator" in forum("nina", cs)
	not "see_all_cohorts" in forum("oscar", cs)
}

test_forum_nothing_without_forum_role if {
	every u in ["sybil", "alice", "bob", "grace", "dave"] {
		forum(u, cs) == set()
	}
	forum("quinn", phy) == set()
}

test_forum_global_staff_see_all_cohorts_only if {
	forum("admin", cs) == {"see_all_cohorts"}
	forum("admin", ccx) == {"see_all_cohorts"}
	forum("staffmod", cs) == forum_moderator
	forum("staffstudent", cs) == forum_student | {"see_all_cohorts"}
}

test_forum_posting_blackout if {
	closed := {"forum_posts_allowed": false}
	forum_with_props("quinn", cs, closed) == {"vote", "unvote", "follow_thread", "unfollow_thread", "follow_commentable", "unfollow_commentable"}
	forum_with_props("rupert", cs, closed) == forum_moderator
	forum_with_props("staffstudent", cs, closed) == {"vote", "unvote", "follow_thread", "unfollow_thread", "follow_commentable", "unfollow_commentable", "see_all_cohorts"}
	forum_with_props("quinn", cs, {"forum_posts_allowed": true}) == forum_student
	q := with_resource_props(on_course("quinn", "forum.create_thread", cs), closed)
	deny_reason(q, "forum posting is closed")
}

# ---------------------------------------------------------------------------
# Instructor dashboard.

staff_perms := {trim_prefix(a, "instructor.") | some a, r in openedx.instructor_action_requirement; r == "staff"}

instructor_perms := {trim_prefix(a, "instructor.") | some a, r in openedx.instructor_action_requirement; r == "instructor"}

researcher_perms := {trim_prefix(a, "instructor.") | some a, r in openedx.instructor_action_requirement; r == "staff_or_researcher"}

test_instructor_lists if {
	"enroll" in staff_perms
	"edit_course_access" in instructor_perms
	researcher_perms == {"view_issued_certificates", "enrollment_report", "view_coupons", "show_tasks", "view_dashboard"}
}

test_dashboard_staff_level if {
	every u in ["bob", "heidi", "carol", "nadia"] {
		dashboard(u, cs) == staff_perms | researcher_perms
	}
}

test_dashboard_instructor_level if {
	dashboard("alice", cs) == (staff_perms | researcher_perms) | instructor_perms
	dashboard("grace", cs) == (staff_perms | researcher_perms) | instructor_perms
}

test_dashboard_global_staff_everything if {
	dashboard("admin", cs) == {trim_prefix(a, "instructor.") | some a, _ in openedx.instructor_action_requirement}
}

test_dashboard_data_researcher if {
	dashboard("erin", cs) == researcher_perms | {"research"}
	dashboard("trent", law) == researcher_perms | {"research"}
	dashboard("trent", cs) == set()
}

test_dashboard_no_role if {
	every u in ["dave", "sybil", "xena", "mallory", "quinn", "frank"] {
		dashboard(u, cs) == set()
	}
}

test_dashboard_ccx if {
	dashboard("admin", ccx) == dashboard("admin", cs)
	dashboard("ccxinst", ccx) == (staff_perms | researcher_perms) | instructor_perms
	dashboard("grace", ccx) == (staff_perms | researcher_perms) | instructor_perms
	dashboard("frank", ccx) == set()
}

test_dashboard_why_not if {
	why_not(on_course("bob", "instructor.research", cs), {}) == "instructor.research needs global staff or data_researcher on the course"
	contains(why_not(on_course("bob", "instructor.beta_test", cs), {}), "instructor-level")
}

# ---------------------------------------------------------------------------
# Reports.

test_report_issued_certificates if {
	every u in ["erin", "bob", "carol", "alice", "admin"] {
		allowed(report(u, "issued_certificates", cs))
	}
	denied(report("dave", "issued_certificates", cs))
	contains(why_not(report("dave", "issued_certificates", cs), {}), "view_issued_certificates")
}

test_report_other_types_need_research if {
	every t in ["grade", "problem_responses", "enrolled_students", "ora2_data", "no_such_type"] {
		allowed(report("erin", t, cs))
		allowed(report("admin", t, cs))
		denied(report("bob", t, cs))
		denied(report("alice", t, cs))
	}
	allowed(report("trent", "grade", law))
	denied(report("trent", "grade", cs))
	allowed(report("admin", "grade", ccx))
	contains(why_not(report("bob", "grade", cs), {}), "research")
}

test_report_malformed if {
	deny_reason(report("admin", "grade", "bogus"), "malformed course key")
	deny_reason(report("admin", "grade", lib), "malformed course key")
	deny_reason(json.remove(report("admin", "grade", cs), ["/resource/properties/course"]), "malformed course key")
	deny_reason(report("admin", "", cs), "malformed report type")
}

# ---------------------------------------------------------------------------
# why_not default.

test_why_not_default if {
	why_not(req("admin", "cohort.view", "cohort", "7"), {}) == "no rule of pack openedx allows this request"
	why_not(create_in("sybil", "Marvel"), {}) == "course.create needs an active user"
}

# ---------------------------------------------------------------------------
# Search candidates.

search_req(user, action, type) := {
	"subject": subj(user),
	"action": {"name": action},
	"resource": {"type": type, "properties": {}},
	"context": {},
}

subject_search(action, type, id) := {
	"subject": {"type": "user"},
	"action": {"name": action},
	"resource": {"type": type, "id": id, "properties": {}},
	"context": {},
}

rc(q, settings) := c if {
	c := openedx.resource_candidates with input as q with data.store.roles as roles with data.store.users as users with data.settings as settings
}

sc(q, settings) := c if {
	c := openedx.subject_candidates with input as q with data.store.roles as roles with data.store.users as users with data.settings as settings
}

test_resource_candidates_course_create if {
	rc(search_req("spiderman", "course.create", "org"), creator_group) == {"Marvel"}
	rc(search_req("sybil", "course.create", "org"), creator_group) == set()
	rc(search_req("sybil", "course.create", "org"), creation_disabled) == set()
	rc(search_req("spiderman", "course.create", "org"), both_flags) == set()
	not rc(search_req("sybil", "course.create", "org"), {})
	not rc(search_req("admin", "course.create", "org"), creator_group)
	not rc(search_req("admin", "course.create", "org"), creation_disabled)
	not rc(search_req("creator", "course.create", "org"), creator_group)
}

test_resource_candidates_courses if {
	rc(search_req("bob", "studio.view_content", "course"), {}) == {cs}
	rc(search_req("ccxinst", "instructor.enroll", "course"), {}) == {ccx}
	rc(search_req("sybil", "studio.view_content", "course"), {}) == set()
	rc(search_req("kate", "studio.edit_roles", "library"), {}) == {lib}
	rc(search_req("kate", "studio.edit_roles", "course"), {}) == set()
	rc(search_req("spiderman", "studio.view_content", "course"), {}) == set()
}

test_resource_candidates_undefined_for_org_roles_and_global_staff if {
	not rc(search_req("grace", "studio.edit_content", "course"), {})
	not rc(search_req("trent", "instructor.research", "course"), {})
	not rc(search_req("judy", "studio.view_content", "library"), {})
	not rc(search_req("admin", "forum.see_all_cohorts", "course"), {})
}

test_resource_candidates_inactive_and_unknown_actions if {
	rc(inactive(search_req("admin", "studio.view_content", "course")), {}) == set()
	rc(search_req("admin", "studio.fly", "course"), {}) == set()
}

test_resource_candidates_only_in_searches if {
	not rc(on_course("bob", "studio.view_content", cs), {})
}

test_subject_candidates_course if {
	c := sc(subject_search("studio.edit_content", "course", cs), {})
	every u in ["alice", "bob", "carol", "grace", "heidi", "judy", "admin", "staffmod", "staffstudent", "quinn", "dave"] {
		u in c
	}
	not "uma" in c
	not "sybil" in c
	not "spiderman" in c
	sc(subject_search("studio.view_content", "library", lib), {}) == {"kate", "leo", "ivan", "grace", "heidi", "judy", "admin", "staffmod", "staffstudent"}
}

test_subject_candidates_course_create if {
	not sc(subject_search("course.create", "org", "Marvel"), {})
	sc(subject_search("course.create", "org", "Marvel"), creation_disabled) == staff_ids
	sc(subject_search("course.create", "org", "Marvel"), creator_group) == {"creator", "spiderman"} | staff_ids
	sc(subject_search("course.create", "org", "DC"), creator_group) == {"creator"} | staff_ids
	not sc(subject_search("organization.create", "platform", "*"), {})
	sc(subject_search("organization.create", "platform", "*"), creator_group) == staff_ids
}

test_subject_candidates_roles if {
	q := json.remove(revoke("admin", "staff", cs_scope, "sybil"), ["/subject/id", "/subject/properties"])
	c := sc(q, {})
	"sybil" in c
	"alice" in c
	"grace" in c
	"admin" in c
}

test_subject_candidates_malformed_and_unknown if {
	sc(subject_search("studio.view_content", "course", "bogus"), {}) == set()
	sc(subject_search("studio.fly", "course", cs), {}) == set()
}

test_subject_candidates_only_in_searches if {
	not sc(on_course("bob", "studio.view_content", cs), {})
}
