# Tests of the oppia pack, one or more per row of SPEC section 7 and per
# exception. They run under stock OPA (`go tool opa test rego/oppia`): the
# hooks read data.store, set here with `with`.
package oppia_test

import data.oppia
import rego.v1

# ---------------------------------------------------------------------------
# Store: roles[user][scope] = directly assigned roles. data.store.implies
# (manager ⇒ viewer) comes from testdata.json.

roles := {
	"mgr": {"course:k1": ["manager"]},
	"vw": {"course:kd": ["viewer"], "course:ka": ["viewer"], "course:kn": ["viewer"]},
	"t1": {"cohort:c1": ["teacher"], "cohort:c2": ["student"]},
	"t2": {"cohort:c2": ["teacher"]},
	"s1": {"cohort:c1": ["student"]},
	"s2": {"cohort:c2": ["student"]},
	"s3": {"cohort:c1": ["student"], "cohort:c2": ["student"]},
	"t9": {"cohort:c3": ["teacher"]},
	"s9": {"cohort:c3": ["student"]},
}

# Cohort c1 covers k1 and the restricted kr; c2 covers k2. Registered
# courses feed the search candidates.
resources := {
	"cohort": {
		"c1": {"courses": ["k1", "kr"]},
		"c2": {"courses": ["k2"]},
		"c3": {"courses": [7]},
	},
	"course": {
		"k1": {"status": "live"},
		"k2": {"status": "live"},
		"kd": {"status": "draft"},
		"ka": {"status": "archived"},
		"kr": {"status": "live", "restricted": true},
		"kx": {"status": "draft", "owner": "own"},
		"kn": {"owner": 42},
	},
}

users := {
	"admin": {"is_superuser": true, "is_staff": false},
	"staff": {"is_superuser": false, "is_staff": true},
	"s1": {"is_superuser": false, "is_staff": false},
}

# ---------------------------------------------------------------------------
# Request builders.

base_props := {"is_active": true, "is_staff": false, "is_superuser": false}

subj(id) := {"type": "user", "id": id, "properties": base_props}

subj_with(id, props) := {"type": "user", "id": id, "properties": object.union(base_props, props)}

admin := subj_with("admin", {"is_superuser": true})

staff := subj_with("staff", {"is_staff": true})

req(s, action, rtype, rid, rprops) := {
	"subject": s,
	"action": {"name": action},
	"resource": {"type": rtype, "id": rid, "properties": rprops},
	"context": {},
}

platform(s, action) := req(s, action, "platform", "*", {})

course(s, action, id, props) := req(s, action, "course", id, props)

cohort(s, action, id) := req(s, action, "cohort", id, object.get(resources, ["cohort", id], {}))

user(s, action, target) := req(s, action, "user", target, {})

user_in(s, action, target, course_id) := req(s, action, "user", target, {"course": course_id})

live := {"status": "live"}

draft := {"status": "draft"}

archived := {"status": "archived"}

# ---------------------------------------------------------------------------
# Evaluation under the test store.

allowed(inp) if {
	count(oppia.deny) == 0 with input as inp
		with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
	count(oppia.allow) > 0 with input as inp
		with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

denied(inp) if not allowed(inp)

deny_reasons(inp) := x if {
	x := oppia.deny with input as inp
		with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

allow_reasons(inp) := x if {
	x := oppia.allow with input as inp
		with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

why_not(inp) := x if {
	x := oppia.why_not with input as inp
		with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

resource_candidates(inp) := x if {
	x := oppia.resource_candidates with input as inp
		with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

subject_candidates(inp) := x if {
	x := oppia.subject_candidates with input as inp
		with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

# deny_mentions holds when some deny reason contains text.
deny_mentions(inp, text) if {
	some r in deny_reasons(inp)
	contains(r, text)
}

# ---------------------------------------------------------------------------
# The action table.

test_actions_cover_every_type if {
	object.keys(oppia.actions) == {"platform", "course", "cohort", "user"}
	count([a | some _, names in oppia.actions; some a in names]) == 32
}

test_actions_unique if {
	all := [a | some names in oppia.actions; some a in names]
	count(all) == count({a | some a in all})
}

test_every_action_has_a_requirement if {
	every names in oppia.actions {
		every a in names {
			oppia.requirements[a]
		}
	}
	count(oppia.requirements) == 32
}

test_unknown_action_denied if {
	denied(platform(admin, "course.fly"))
	deny_mentions(platform(admin, "course.fly"), "unknown action")
}

test_action_on_wrong_resource_type_denied if {
	# course.view is a course action, not a platform one.
	denied(platform(admin, "course.view"))
	deny_mentions(platform(admin, "course.view"), "unknown action \"course.view\" on resource type \"platform\"")

	# admin.access is a platform action.
	denied(course(admin, "admin.access", "k1", live))
}

test_unknown_resource_type_denied if {
	denied(req(admin, "cohort.view", "group", "g1", {}))
	deny_mentions(req(admin, "cohort.view", "group", "g1", {}), "unknown action")
}

test_platform_resource_id_must_be_star if {
	denied(req(admin, "admin.access", "platform", "main", {}))
	deny_mentions(req(admin, "admin.access", "platform", "main", {}), "platform")
}

# ---------------------------------------------------------------------------
# Inactive users: denied everything, whatever else holds.

test_inactive_admin_denied_everything if {
	inactive_admin := subj_with("admin", {"is_superuser": true, "is_active": false})
	every t, names in oppia.actions {
		every a in names {
			denied(req(inactive_admin, a, t, "*", live))
		}
	}
	deny_mentions(platform(inactive_admin, "admin.access"), "inactive user")
}

test_inactive_self_denied if {
	gone := subj_with("s1", {"is_active": false})
	denied(user(gone, "user.change_password", "s1"))
	denied(user(gone, "user.view", "s1"))
	denied(user(gone, "user.delete", "s1"))
	deny_mentions(user(gone, "user.delete", "s1"), "inactive user")
}

test_inactive_teacher_and_manager_denied if {
	denied(user_in(subj_with("t1", {"is_active": false}), "activity.view", "s1", "k1"))
	denied(course(subj_with("mgr", {"is_active": false}), "course.update", "k1", live))
	denied(course(subj_with("mgr", {"is_active": false}), "course.view", "k1", live))
}

# ---------------------------------------------------------------------------
# admin.access, user.bulk_upload: Admin only.

test_admin_access if {
	allowed(platform(admin, "admin.access"))
	denied(platform(staff, "admin.access"))
	denied(platform(subj("s1"), "admin.access"))
	why_not(platform(staff, "admin.access")) == "admin.access requires an admin (is_superuser)"
}

test_admin_holds_staff_permissions_without_is_staff if {
	allowed(platform(admin, "user.export"))
	allow_reasons(platform(admin, "user.export")) == {"admin"}
	allow_reasons(platform(staff, "user.export")) == {"staff"}
}

test_user_bulk_upload if {
	allowed(platform(admin, "user.bulk_upload"))
	denied(platform(staff, "user.bulk_upload"))
	denied(platform(subj_with("up", {"can_upload": true}), "user.bulk_upload"))
}

# ---------------------------------------------------------------------------
# course.upload, media.upload.

test_course_upload if {
	every a in ["course.upload", "media.upload"] {
		allowed(platform(admin, a))
		allowed(platform(staff, a))
		allowed(platform(subj_with("up", {"can_upload": true}), a))
		allowed(platform(subj("mgr"), a))
		denied(platform(subj("vw"), a))
		denied(platform(subj("t1"), a))
		denied(platform(subj_with("up", {"can_upload": false}), a))
		denied(platform(subj("nobody"), a))
	}
	allow_reasons(platform(subj("mgr"), "course.upload")) == {"manager of a course"}
	allow_reasons(platform(subj_with("up", {"can_upload": true}), "media.upload")) == {"can_upload"}
}

test_can_upload_must_be_true if {
	denied(platform(subj_with("up", {"can_upload": "yes"}), "course.upload"))
}

# ---------------------------------------------------------------------------
# course.update: owner or manager only, no one exempt.

test_course_update_owner_or_manager if {
	allowed(course(subj("mgr"), "course.update", "k1", live))
	allowed(course(subj("own"), "course.update", "kx", {"status": "draft", "owner": "own"}))
	allow_reasons(course(subj("own"), "course.update", "kx", {"owner": "own"})) == {"course owner"}
	denied(course(subj("vw"), "course.update", "kd", draft))
	denied(course(subj("mgr"), "course.update", "k2", live))
	denied(course(subj("t1"), "course.update", "k1", live))
}

test_course_update_no_one_exempt if {
	denied(course(admin, "course.update", "k1", live))
	denied(course(staff, "course.update", "k1", live))
	contains(why_not(course(admin, "course.update", "k1", live)), "no one is exempt")
	allowed(course(subj_with("admin", {"is_superuser": true}), "course.update", "k9", {"owner": "admin"}))
}

test_course_update_numeric_owner if {
	allowed(course(subj("42"), "course.update", "kn", {"owner": 42}))
	denied(course(subj("43"), "course.update", "kn", {"owner": 42}))
}

# ---------------------------------------------------------------------------
# course.update_categories, course.update_status, course.edit,
# course.view_detail: Admin, Staff, manager.

test_manager_course_actions if {
	every a in ["course.update_categories", "course.update_status", "course.edit", "course.view_detail"] {
		allowed(course(admin, a, "k1", live))
		allowed(course(staff, a, "k1", live))
		allowed(course(subj("mgr"), a, "k1", live))
		denied(course(subj("mgr"), a, "k2", live))
		denied(course(subj("vw"), a, "kd", draft))
		denied(course(subj("own"), a, "kx", {"owner": "own"}))
		denied(course(subj("t1"), a, "k1", live))
	}
}

# ---------------------------------------------------------------------------
# course.archive, course.delete: Admin, Staff.

test_archive_delete if {
	every a in ["course.archive", "course.delete"] {
		allowed(course(admin, a, "k1", live))
		allowed(course(staff, a, "k1", live))
		denied(course(subj("mgr"), a, "k1", live))
		denied(course(subj("own"), a, "kx", {"owner": "own"}))
	}
}

# ---------------------------------------------------------------------------
# course.view.

test_course_view_admin_staff_any_status if {
	every props in [live, draft, archived, {}] {
		allowed(course(admin, "course.view", "k", props))
		allowed(course(staff, "course.view", "k", props))
	}
}

test_course_view_live_for_anyone if {
	allowed(course(subj("nobody"), "course.view", "k1", live))
	allowed(course(subj("s1"), "course.view", "k2", live))
	allowed(course(subj("x"), "course.view", "kr", {"status": "live", "restricted": true}))
}

test_course_view_draft_for_viewer_or_manager if {
	allowed(course(subj("vw"), "course.view", "kd", draft))
	allowed(course(subj("mgr"), "course.view", "k1", draft))
	denied(course(subj("nobody"), "course.view", "kd", draft))
	denied(course(subj("t1"), "course.view", "kd", draft))
	denied(course(subj("own"), "course.view", "kx", {"status": "draft", "owner": "own"}))
}

test_course_view_archived_never if {
	denied(course(subj("vw"), "course.view", "ka", archived))
	denied(course(subj("mgr"), "course.view", "k1", archived))
	denied(course(subj("nobody"), "course.view", "ka", archived))
	deny_mentions(course(subj("vw"), "course.view", "ka", archived), "archived")
}

test_course_without_status_is_draft if {
	denied(course(subj("nobody"), "course.view", "k0", {}))
	allowed(course(subj("vw"), "course.view", "kn", {}))
	denied(course(subj("nobody"), "course.view", "k0", {"status": "published"}))
	denied(course(subj("nobody"), "course.download", "k0", {}))
	allowed(course(subj("vw"), "course.download", "kn", {}))
	allowed(course(staff, "course.download", "k0", {}))
}

# ---------------------------------------------------------------------------
# course.download.

test_course_download_admin_staff_not_archived if {
	every s in [admin, staff] {
		allowed(course(s, "course.download", "k1", live))
		allowed(course(s, "course.download", "kd", draft))
		allowed(course(s, "course.download", "kr", {"status": "live", "restricted": true}))
		allowed(course(s, "course.download", "k1", {"status": "live", "new_downloads_disabled": true}))
		denied(course(s, "course.download", "ka", archived))
	}
	deny_mentions(course(admin, "course.download", "ka", archived), "archived")
}

test_course_download_live_open if {
	allowed(course(subj("nobody"), "course.download", "k1", live))
	allowed(course(subj("nobody"), "course.download", "k1", {"status": "live", "restricted": false, "new_downloads_disabled": false}))
	allow_reasons(course(subj("nobody"), "course.download", "k1", live)) == {"live course open for download"}
}

test_course_download_new_downloads_disabled if {
	denied(course(subj("nobody"), "course.download", "k1", {"status": "live", "new_downloads_disabled": true}))
	denied(course(subj("s1"), "course.download", "kr", {"status": "live", "restricted": true, "new_downloads_disabled": true}))

	# A viewer or manager of a live course still may.
	allowed(course(subj("mgr"), "course.download", "k1", {"status": "live", "new_downloads_disabled": true}))
}

test_course_download_restricted if {
	restricted := {"status": "live", "restricted": true}

	# c1 covers kr: its student and its teacher may.
	allowed(course(subj("s1"), "course.download", "kr", restricted))
	allowed(course(subj("t1"), "course.download", "kr", restricted))
	allowed(course(subj("s3"), "course.download", "kr", restricted))

	# c2 does not cover kr.
	denied(course(subj("s2"), "course.download", "kr", restricted))
	denied(course(subj("t2"), "course.download", "kr", restricted))
	denied(course(subj("nobody"), "course.download", "kr", restricted))

	# c2 covers k2 when it is restricted.
	allowed(course(subj("s2"), "course.download", "k2", restricted))
	denied(course(subj("s1"), "course.download", "k2", restricted))
	allow_reasons(course(subj("s1"), "course.download", "kr", restricted)) == {"member of a cohort covering the restricted course"}
}

test_course_download_restricted_draft_not_for_members if {
	denied(course(subj("s1"), "course.download", "kr", {"status": "draft", "restricted": true}))
}

test_course_download_viewer_of_draft_or_live if {
	allowed(course(subj("vw"), "course.download", "kd", draft))
	allowed(course(subj("mgr"), "course.download", "k1", draft))
	allowed(course(subj("mgr"), "course.download", "k1", {"status": "live", "restricted": true}))
	denied(course(subj("nobody"), "course.download", "kd", draft))
	denied(course(subj("s1"), "course.download", "k1", draft))
}

test_course_download_archived_never if {
	denied(course(subj("vw"), "course.download", "ka", archived))
	denied(course(subj("mgr"), "course.download", "k1", archived))
	denied(course(subj("s1"), "course.download", "kr", {"status": "archived"}))
	denied(course(subj("nobody"), "course.download", "k1", archived))
}

# ---------------------------------------------------------------------------
# Platform actions for Admin and Staff only.

test_staff_platform_actions if {
	every a in ["certificates.regenerate", "user.export", "analytics.view_server", "activity.upload_logs"] {
		allowed(platform(admin, a))
		allowed(platform(staff, a))
		denied(platform(subj("t1"), a))
		denied(platform(subj("mgr"), a))
		denied(platform(subj_with("up", {"can_upload": true}), a))
	}
}

# ---------------------------------------------------------------------------
# Cohorts.

test_cohort_list_add_edit if {
	every a in ["cohort.list", "cohort.add", "cohort.edit"] {
		allowed(cohort(admin, a, "c1"))
		allowed(cohort(staff, a, "c1"))
		denied(cohort(subj("t1"), a, "c1"))
		denied(cohort(subj("s1"), a, "c1"))
	}
}

test_cohort_view if {
	allowed(cohort(admin, "cohort.view", "c1"))
	allowed(cohort(staff, "cohort.view", "c2"))
	allowed(cohort(subj("t1"), "cohort.view", "c1"))
	allowed(cohort(subj("t2"), "cohort.view", "c2"))

	# Not a cohort one only studies in, nor another teacher's cohort.
	denied(cohort(subj("t1"), "cohort.view", "c2"))
	denied(cohort(subj("t2"), "cohort.view", "c1"))
	denied(cohort(subj("s1"), "cohort.view", "c1"))
	contains(why_not(cohort(subj("s1"), "cohort.view", "c1")), "teacher of the cohort")
}

# ---------------------------------------------------------------------------
# user.view, activity.view.

test_user_view_admin_staff if {
	every a in ["user.view", "activity.view"] {
		allowed(user_in(admin, a, "s1", "k1"))
		allowed(user_in(staff, a, "s2", "k2"))
		allowed(user(staff, a, "s2"))
	}
}

test_user_view_self if {
	every a in ["user.view", "activity.view"] {
		allowed(user(subj("s1"), a, "s1"))
		allowed(user_in(subj("s1"), a, "s1", "k2"))
		denied(user_in(subj("s1"), a, "s3", "k1"))
		denied(user(subj("s1"), a, "s2"))
	}
}

test_teacher_sees_own_cohort_students_in_covered_course if {
	every a in ["user.view", "activity.view"] {
		allowed(user_in(subj("t1"), a, "s1", "k1"))
		allowed(user_in(subj("t1"), a, "s1", "kr"))
		allowed(user_in(subj("t1"), a, "s3", "k1"))
		allowed(user_in(subj("t2"), a, "s2", "k2"))
		allowed(user_in(subj("t2"), a, "t1", "k2"))
	}
	allow_reasons(user_in(subj("t1"), "activity.view", "s1", "k1")) == {"teacher of the student's cohort covering the course"}
}

test_teacher_does_not_see_other_cohorts_students if {
	every a in ["user.view", "activity.view"] {
		# s2 studies in c2, which t1 does not teach (t1 studies there).
		denied(user_in(subj("t1"), a, "s2", "k2"))
		denied(user_in(subj("t2"), a, "s1", "k1"))
	}
}

test_teacher_does_not_see_students_in_uncovered_course if {
	every a in ["user.view", "activity.view"] {
		# c1 does not cover k2, even though s3 studies k2 through c2.
		denied(user_in(subj("t1"), a, "s1", "k2"))
		denied(user_in(subj("t1"), a, "s3", "k2"))
		denied(user_in(subj("t2"), a, "s3", "k1"))
	}
}

test_teacher_needs_a_course if {
	denied(user(subj("t1"), "activity.view", "s1"))
	denied(user_in(subj("t1"), "activity.view", "s1", null))
}

test_students_do_not_see_each_other if {
	denied(user_in(subj("s1"), "activity.view", "s3", "k1"))
	denied(user_in(subj("s3"), "user.view", "s1", "k1"))
}

test_teacher_does_not_see_co_teacher if {
	denied(user_in(subj("t1"), "activity.view", "t2", "k2"))
}

test_numeric_course_ids if {
	# c3 lists the course 7 as a JSON number.
	allowed(user_in(subj("t9"), "activity.view", "s9", 7))
	allowed(user_in(subj("t9"), "activity.view", "s9", "7"))
	allowed(course(subj("t9"), "activity.view_recent", "7", live))
	denied(user_in(subj("t9"), "activity.view", "s9", "8"))
}

# ---------------------------------------------------------------------------
# user.edit_profile, user.change_password, user.delete.

test_edit_profile_default_on if {
	allowed(user(subj("s1"), "user.edit_profile", "s1"))
	allowed(user(admin, "user.edit_profile", "s1"))
	allowed(user(staff, "user.edit_profile", "s1"))
	denied(user(subj("t1"), "user.edit_profile", "s1"))
}

test_edit_profile_default_when_setting_absent if {
	allowed(user(subj("s1"), "user.edit_profile", "s1")) with data.settings as {}
}

test_edit_profile_disabled if {
	denied(user(subj("s1"), "user.edit_profile", "s1")) with data.settings as {"OPPIA_ALLOW_PROFILE_EDITING": false}
	contains(why_not(user(subj("s1"), "user.edit_profile", "s1")), "profile editing is disabled") with data.settings as {"OPPIA_ALLOW_PROFILE_EDITING": false}
	allowed(user(admin, "user.edit_profile", "s1")) with data.settings as {"OPPIA_ALLOW_PROFILE_EDITING": false}
	allowed(user(staff, "user.edit_profile", "staff")) with data.settings as {"OPPIA_ALLOW_PROFILE_EDITING": false}

	# change_password does not depend on the setting.
	allowed(user(subj("s1"), "user.change_password", "s1")) with data.settings as {"OPPIA_ALLOW_PROFILE_EDITING": false}
}

test_change_password if {
	allowed(user(admin, "user.change_password", "s1"))
	allowed(user(staff, "user.change_password", "s1"))
	allowed(user(subj("s1"), "user.change_password", "s1"))
	denied(user(subj("t1"), "user.change_password", "s1"))
	denied(user(subj("mgr"), "user.change_password", "s1"))
}

test_user_delete if {
	allowed(user(admin, "user.delete", "s1"))
	denied(user(staff, "user.delete", "s1"))
	allowed(user(staff, "user.delete", "staff"))
	allowed(user(subj("s1"), "user.delete", "s1"))
	denied(user(subj("t1"), "user.delete", "s1"))
	contains(why_not(user(staff, "user.delete", "s1")), "admin")
}

# ---------------------------------------------------------------------------
# Course activity, quizzes and feedback: teachers of a covering cohort.

course_activity_actions := [
	"activity.view_recent", "activity.view_detail", "activity.download",
	"quiz.download_responses", "feedback.download_responses", "course.view_quizzes",
]

test_course_activity_admin_staff if {
	every a in course_activity_actions {
		allowed(course(admin, a, "k1", live))
		allowed(course(staff, a, "kd", draft))
	}
}

test_course_activity_teacher_of_covering_cohort if {
	every a in course_activity_actions {
		allowed(course(subj("t1"), a, "k1", live))
		allowed(course(subj("t1"), a, "kr", {"status": "live", "restricted": true}))
		allowed(course(subj("t2"), a, "k2", live))
		denied(course(subj("t1"), a, "k2", live))
		denied(course(subj("t2"), a, "k1", live))
	}
}

test_course_activity_not_for_students_or_managers if {
	every a in course_activity_actions {
		denied(course(subj("s1"), a, "k1", live))
		denied(course(subj("s3"), a, "k2", live))
		denied(course(subj("mgr"), a, "k1", live))
		denied(course(subj("vw"), a, "kd", draft))
	}
}

# ---------------------------------------------------------------------------
# why_not and reasons.

test_why_not_names_the_requirement if {
	why_not(course(subj("s1"), "course.archive", "k1", live)) == "course.archive requires admin or staff"
	contains(why_not(user_in(subj("t1"), "activity.view", "s2", "k2")), "teacher of a cohort")
}

test_allow_and_deny_exclusive_for_archived_download if {
	inp := course(subj("vw"), "course.download", "ka", archived)
	count(allow_reasons(inp)) == 0
	count(deny_reasons(inp)) == 1
}

# ---------------------------------------------------------------------------
# Search candidates.

search(s, action, rtype, rprops) := {
	"subject": s,
	"action": {"name": action},
	"resource": {"type": rtype, "properties": rprops},
	"context": {},
}

subject_search(action, rtype, rid, rprops) := {
	"subject": {"type": "user", "properties": {}},
	"action": {"name": action},
	"resource": {"type": rtype, "id": rid, "properties": rprops},
	"context": {},
}

test_course_candidates_for_learner if {
	resource_candidates(search(subj("s1"), "course.view", "course", {})) == {"k1", "k2", "kr"}
	resource_candidates(search(subj("vw"), "course.view", "course", {})) == {"k1", "k2", "kr", "kd", "ka", "kn"}
	resource_candidates(search(subj("mgr"), "course.download", "course", {})) == {"k1", "k2", "kr"}
}

test_course_candidates_undefined_for_admin_staff if {
	not resource_candidates(search(admin, "course.view", "course", {}))
	not resource_candidates(search(staff, "course.view", "course", {}))
}

test_course_candidates_undefined_when_request_sets_status if {
	not resource_candidates(search(subj("s1"), "course.view", "course", {"status": "live"}))
}

test_course_candidates_for_manager_and_owner if {
	resource_candidates(search(subj("mgr"), "course.edit", "course", {})) == {"k1"}
	resource_candidates(search(subj("own"), "course.update", "course", {})) == {"kx"}
	resource_candidates(search(subj("42"), "course.update", "course", {})) == {"kn"}
	resource_candidates(search(admin, "course.update", "course", {})) == set()
	resource_candidates(search(subj("t1"), "activity.view_recent", "course", {})) == {"k1", "kr"}
	resource_candidates(search(subj("s1"), "course.archive", "course", {})) == set()
}

test_user_candidates_teacher_visibility if {
	resource_candidates(search(subj("t1"), "activity.view", "user", {"course": "k1"})) == {"t1", "s1", "s3"}
	resource_candidates(search(subj("t1"), "activity.view", "user", {"course": "k2"})) == {"t1"}
	resource_candidates(search(subj("t2"), "user.view", "user", {"course": "k2"})) == {"t2", "s2", "s3", "t1"}
	resource_candidates(search(subj("s1"), "activity.view", "user", {"course": "k1"})) == {"s1"}
	resource_candidates(search(subj("t1"), "activity.view", "user", {})) == {"t1"}
	not resource_candidates(search(staff, "activity.view", "user", {"course": "k1"}))
}

test_cohort_candidates if {
	resource_candidates(search(subj("t1"), "cohort.view", "cohort", {})) == {"c1"}
	resource_candidates(search(subj("s1"), "cohort.view", "cohort", {})) == set()
	not resource_candidates(search(staff, "cohort.view", "cohort", {}))
}

test_candidates_empty_when_inactive if {
	resource_candidates(search(subj_with("t1", {"is_active": false}), "activity.view", "user", {"course": "k1"})) == set()
}

test_subject_candidates if {
	subject_candidates(subject_search("cohort.view", "cohort", "c1", {})) == {"t1", "admin", "staff"}
	subject_candidates(subject_search("admin.access", "platform", "*", {})) == {"admin"}
	subject_candidates(subject_search("activity.view", "user", "s3", {"course": "k2"})) == {"s3", "t2", "admin", "staff"}
	subject_candidates(subject_search("activity.view", "user", "s3", {"course": "k1"})) == {"s3", "t1", "admin", "staff"}
	subject_candidates(subject_search("course.update", "course", "kx", {"owner": "own"})) == {"own"}
	subject_candidates(subject_search("course.edit", "course", "k1", live)) == {"mgr", "admin", "staff"}
	subject_candidates(subject_search("user.delete", "user", "s1", {})) == {"s1", "admin"}
}

test_subject_candidates_undefined_when_request_makes_staff if {
	inp := object.union(subject_search("cohort.view", "cohort", "c1", {}), {"subject": {"properties": {"is_staff": true}}})
	not subject_candidates(inp)
}

# Candidate soundness: for a set of subjects and actions, every allowed
# resource is among the candidates. (Split by area: each test has its own
# time limit, and `opa test -v` traces every step.)
sound_subjects := [subj("s1"), subj("s2"), subj("s3"), subj("t1"), subj("t2"), subj("vw"), subj("mgr"), subj("own"), subj("42"), subj("nobody")]

courses_sound(action_names) if {
	every s in sound_subjects {
		every a in action_names {
			every id, props in resources.course {
				sound(s, a, "course", id, props)
			}
		}
	}
}

test_resource_candidates_sound_course_view_download if {
	courses_sound(["course.view", "course.download"]) with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

test_resource_candidates_sound_course_update if {
	courses_sound(["course.update", "course.edit"]) with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

test_resource_candidates_sound_course_manager_actions if {
	courses_sound(["course.update_categories", "course.update_status", "course.view_detail"]) with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

test_resource_candidates_sound_course_archive_delete if {
	courses_sound(["course.archive", "course.delete"]) with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

test_resource_candidates_sound_course_activity if {
	courses_sound(["activity.view_recent", "activity.view_detail", "activity.download"]) with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

test_resource_candidates_sound_course_responses if {
	courses_sound(["quiz.download_responses", "feedback.download_responses", "course.view_quizzes"]) with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

users_sound(action_names) if {
	every s in sound_subjects {
		every a in action_names {
			every id in ["s1", "s2", "s3", "t1", "t2", "vw"] {
				sound(s, a, "user", id, {"course": "k1"})
				sound(s, a, "user", id, {"course": "k2"})
			}
		}
	}
}

test_resource_candidates_sound_user_view if {
	users_sound(["user.view", "activity.view"]) with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

test_resource_candidates_sound_user_account if {
	users_sound(["user.edit_profile", "user.change_password", "user.delete"]) with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

cohorts_sound if {
	every s in sound_subjects {
		every a in oppia.actions.cohort {
			every id in ["c1", "c2", "c3"] {
				sound(s, a, "cohort", id, {})
			}
		}
	}
}

test_resource_candidates_sound_cohorts if {
	cohorts_sound with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

# sound holds when the resource is not allowed or is among the candidates of
# the search for it (undefined candidates include everything). It and
# subject_sound evaluate under the store the calling test sets with
# with_store, binding only the input per evaluation.
sound(s, a, rtype, id, props) if not allowed_here(req(s, a, rtype, id, props))

sound(s, a, rtype, _, props) if not candidates_here(search(s, a, rtype, props))

sound(s, a, rtype, id, props) if id in candidates_here(search(s, a, rtype, props))

allowed_here(inp) if {
	count(oppia.deny) == 0 with input as inp
	count(oppia.allow) > 0 with input as inp
}

candidates_here(inp) := x if {
	x := oppia.resource_candidates with input as inp
}

subject_candidates_here(inp) := x if {
	x := oppia.subject_candidates with input as inp
}

# Subject candidate soundness: every known subject a single evaluation
# allows is among the candidates of the subject search.
subjects_sound(targets) if {
	subjects := array.concat([admin, staff], [subj(u) | some u, _ in roles])
	every t in targets {
		every a in oppia.actions[t[0]] {
			every s in subjects {
				subject_sound(s, a, t[0], t[1], t[2])
			}
		}
	}
}

test_subject_candidates_sound_platform_and_cohorts if {
	subjects_sound([["platform", "*", {}], ["cohort", "c1", {}], ["cohort", "c2", {}]]) with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

test_subject_candidates_sound_live_course if {
	subjects_sound([["course", "k1", {"status": "live"}]]) with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

test_subject_candidates_sound_owned_courses if {
	subjects_sound([["course", "kx", {"status": "draft", "owner": "own"}], ["course", "kn", {"owner": 42}]]) with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

test_subject_candidates_sound_users if {
	subjects_sound([["user", "s1", {"course": "k1"}], ["user", "s3", {"course": "k2"}]]) with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

test_subject_candidates_sound_users_more if {
	subjects_sound([["user", "t1", {"course": "k2"}], ["user", "s1", {}]]) with data.store.roles as roles
		with data.store.resources as resources
		with data.store.users as users
}

subject_sound(s, a, rtype, id, props) if not allowed(req(s, a, rtype, id, props))
subject_sound(_, a, rtype, id, props) if not subject_candidates(subject_search(a, rtype, id, props))

subject_sound(s, a, rtype, id, props) if s.id in subject_candidates(subject_search(a, rtype, id, props))
