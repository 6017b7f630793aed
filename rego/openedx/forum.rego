# Forum permissions: forum.<permission> on a course. The lists are exact: no
# other forum permission is held, and a user with no forum role holds none.
package openedx

import rego.v1

# forum_role_permissions is the exact permission list of each forum role:
# Student; Moderator and Community TA = Student's plus moderation;
# Group Moderator = Student's plus group moderation; Administrator =
# Moderator's plus manage_moderator. (Written out so that lookups on the hot
# path are constants; the tests check the composition.)
forum_role_permissions := {
	"forum_student": {
		"vote",
		"unvote",
		"create_thread",
		"update_thread",
		"follow_thread",
		"unfollow_thread",
		"create_comment",
		"update_comment",
		"create_sub_comment",
		"follow_commentable",
		"unfollow_commentable",
	},
	"forum_moderator": {
		"vote",
		"unvote",
		"create_thread",
		"update_thread",
		"follow_thread",
		"unfollow_thread",
		"create_comment",
		"update_comment",
		"create_sub_comment",
		"follow_commentable",
		"unfollow_commentable",
		"edit_content",
		"delete_thread",
		"openclose_thread",
		"endorse_comment",
		"delete_comment",
		"see_all_cohorts",
	},
	"forum_community_ta": {
		"vote",
		"unvote",
		"create_thread",
		"update_thread",
		"follow_thread",
		"unfollow_thread",
		"create_comment",
		"update_comment",
		"create_sub_comment",
		"follow_commentable",
		"unfollow_commentable",
		"edit_content",
		"delete_thread",
		"openclose_thread",
		"endorse_comment",
		"delete_comment",
		"see_all_cohorts",
	},
	"forum_group_moderator": {
		"vote",
		"unvote",
		"create_thread",
		"update_thread",
		"follow_thread",
		"unfollow_thread",
		"create_comment",
		"update_comment",
		"create_sub_comment",
		"follow_commentable",
		"unfollow_commentable",
		"group_edit_content",
		"group_delete_thread",
		"group_openclose_thread",
		"group_endorse_comment",
		"group_delete_comment",
	},
	"forum_administrator": {
		"vote",
		"unvote",
		"create_thread",
		"update_thread",
		"follow_thread",
		"unfollow_thread",
		"create_comment",
		"update_comment",
		"create_sub_comment",
		"follow_commentable",
		"unfollow_commentable",
		"edit_content",
		"delete_thread",
		"openclose_thread",
		"endorse_comment",
		"delete_comment",
		"see_all_cohorts",
		"manage_moderator",
	},
}

# forum_perm is the permission asked for by a forum.<permission> action.
forum_perm := forum_action_perm[input.action.name]

held_forum_roles := {r | some r in roles; forum_role_permissions[r]}

allow contains role if {
	glob.match("forum.*", ["."], input.action.name)
	perm := forum_perm
	some role in held_forum_roles
	perm in forum_role_permissions[role]
}

# Global staff always have see_all_cohorts (and other forum permissions only
# through a forum role).
allow contains "global staff" if {
	input.action.name == "forum.see_all_cohorts"
	global_staff
}

# Posting blackout: when the course's forum_posts_allowed is false, a user
# whose only forum role is Student loses every permission whose name starts
# with create, update or edit.
deny contains "forum posting is closed on this course (forum_posts_allowed is false) for users whose only forum role is forum_student" if {
	glob.match("forum.*", ["."], input.action.name)
	perm := forum_perm
	posting_permission(perm)
	input.resource.properties.forum_posts_allowed == false
	held_forum_roles == {"forum_student"}
}

posting_permission(perm) if startswith(perm, "create")

posting_permission(perm) if startswith(perm, "update")

posting_permission(perm) if startswith(perm, "edit")
