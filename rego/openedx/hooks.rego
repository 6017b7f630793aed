# Package hooks is how a pack reaches Provost's data: roles, resources and
# course keys. Provost replaces this whole package with built-ins backed by
# Casbin (role inheritance) and its in-memory index of the store, so keep
# nothing else in this file. This file is the pure-Rego reference of those
# built-ins, used by stock `opa test` and by the pack's tests. It reads:
#
#   data.store.roles[user][scope]      roles assigned directly to user at scope
#   data.store.implies[role]           roles implied by role (transitively closed;
#                                      must agree with policies/<pack>.csv)
#   data.store.resources[type][id]     properties of registered resources
#   data.store.users[id]               stored user properties
package hooks

import rego.v1

# parse_key returns {"kind": "course"|"ccx"|"library", "org", ...} for an
# Open edX course, CCX or library key, and is undefined for anything else.
parse_key(key) := {"kind": "course", "org": m[1], "number": m[2], "run": m[3]} if {
	m := regex.find_all_string_submatch_n(`^course-v1:([\pL\pN_.~-]+)\+([\pL\pN_.~:-]+)\+([\pL\pN_.~:-]+)$`, key, 1)[0]
}

parse_key(key) := {"kind": "ccx", "org": m[1], "number": m[2], "run": m[3], "ccx": m[4]} if {
	m := regex.find_all_string_submatch_n(`^ccx-v1:([\pL\pN_.~-]+)\+([\pL\pN_.~:-]+)\+([\pL\pN_.~:-]+)\+ccx@([0-9]+)$`, key, 1)[0]
}

parse_key(key) := {"kind": "library", "org": m[1], "code": m[2]} if {
	m := regex.find_all_string_submatch_n(`^library-v1:([\pL\pN_.~-]+)\+([\pL\pN_.~:-]+)$`, key, 1)[0]
}

# scope_chain lists scope and the scopes containing it: a course or library
# scope is contained in the org scope of its key.
scope_chain(scope) := [scope, concat(":", ["org", k.org])] if {
	i := indexof(scope, ":")
	substring(scope, 0, i) in {"course", "library"}
	k := parse_key(substring(scope, i + 1, -1))
} else := [scope]

implied(role) := {role} | {r | some r in object.get(data.store, ["implies", role], [])}

# direct_roles is the set of roles assigned to user exactly at scope.
direct_roles(user, scope) := {r | some r in object.get(data.store, ["roles", user, scope], [])}

# roles is the set of roles user holds at scope: assigned there or at a
# containing scope, with implied roles.
roles(user, scope) := {x |
	some s in scope_chain(scope)
	some r in direct_roles(user, s)
	some x in implied(r)
}

# holder_count is the number of users assigned role directly at scope.
holder_count(role, scope) := count({u |
	some u, by_scope in object.get(data.store, "roles", {})
	role in object.get(by_scope, scope, [])
})

# scopes is the set of scopes at which user is assigned role or a role implying it.
scopes(user, role) := {s |
	some s, rs in object.get(data.store, ["roles", user], {})
	some r in rs
	role in implied(r)
}

# members is the set of users assigned role, or a role implying it, exactly at scope.
members(scope, role) := {u |
	some u, by_scope in object.get(data.store, "roles", {})
	some r in object.get(by_scope, scope, [])
	role in implied(r)
}

# resource returns the stored properties of a registered resource, or {}.
resource(type, id) := object.get(data.store, ["resources", type, id], {})

# resources_where is the set of ids of registered resources of type whose
# property prop equals value.
resources_where(type, prop, value) := {id |
	some id, props in object.get(data.store, ["resources", type], {})
	props[prop] == value
}

# users_where is the set of ids of stored users whose property prop equals value.
users_where(prop, value) := {id |
	some id, props in object.get(data.store, "users", {})
	props[prop] == value
}
