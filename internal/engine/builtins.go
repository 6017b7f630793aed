package engine

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/provost-lms/provost/internal/scope"
)

// hooksModule replaces the pack's hooks.rego: each hook calls the built-in
// of the same name, backed by the role index (Casbin's role manager) and
// the catalog.
const hooksModule = `package hooks

import rego.v1

parse_key(key) := provost.parse_key(key)

scope_chain(s) := provost.scope_chain(s)

implied(role) := provost.implied(role)

direct_roles(user, s) := provost.direct_roles(user, s)

roles(user, s) := provost.roles(user, s)

holder_count(role, s) := provost.holder_count(role, s)

scopes(user, role) := provost.scopes(user, role)

members(s, role) := provost.members(s, role)

resource(type, id) := provost.resource(type, id)

resources_where(type, prop, value) := provost.resources_where(type, prop, value)

users_where(prop, value) := provost.users_where(prop, value)
`

func stringArg(t *ast.Term, pos int) (string, error) {
	s, ok := t.Value.(ast.String)
	if !ok {
		return "", fmt.Errorf("operand %d must be a string, got %s", pos, ast.ValueName(t.Value))
	}
	return string(s), nil
}

func stringSet(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.StringTerm(s)
	}
	return ast.SetTerm(terms...)
}

var (
	tSetS = types.NewSet(types.S)
	tObj  = types.NewObject(nil, types.NewDynamicProperty(types.S, types.A))
)

func decl1(name string, arg types.Type, out types.Type) *rego.Function {
	return &rego.Function{Name: name, Decl: types.NewFunction(types.Args(arg), out)}
}

func decl2(name string, a, b types.Type, out types.Type, memo bool) *rego.Function {
	return &rego.Function{Name: name, Decl: types.NewFunction(types.Args(a, b), out), Memoize: memo}
}

func str2(fn func(a, b string) (*ast.Term, error)) rego.Builtin2 {
	return func(_ rego.BuiltinContext, a, b *ast.Term) (*ast.Term, error) {
		x, err := stringArg(a, 1)
		if err != nil {
			return nil, err
		}
		y, err := stringArg(b, 2)
		if err != nil {
			return nil, err
		}
		return fn(x, y)
	}
}

func str1(fn func(a string) (*ast.Term, error)) rego.Builtin1 {
	return func(_ rego.BuiltinContext, a *ast.Term) (*ast.Term, error) {
		x, err := stringArg(a, 1)
		if err != nil {
			return nil, err
		}
		return fn(x)
	}
}

// builtins returns the provost.* built-ins over the engine's data.
func (e *Engine) builtins() []func(*rego.Rego) {
	ix, cat := e.index, e.catalog
	return []func(*rego.Rego){
		rego.Function1(decl1("provost.parse_key", types.S, tObj), str1(func(k string) (*ast.Term, error) {
			key, err := scope.ParseKey(k)
			if err != nil {
				return nil, nil // undefined
			}
			items := [][2]*ast.Term{
				{ast.StringTerm("kind"), ast.StringTerm(key.Kind)},
				{ast.StringTerm("org"), ast.StringTerm(key.Org)},
			}
			switch key.Kind {
			case scope.KeyLibrary:
				items = append(items, [2]*ast.Term{ast.StringTerm("code"), ast.StringTerm(key.Number)})
			default:
				items = append(items, [2]*ast.Term{ast.StringTerm("number"), ast.StringTerm(key.Number)},
					[2]*ast.Term{ast.StringTerm("run"), ast.StringTerm(key.Run)})
				if key.Kind == scope.KeyCCX {
					items = append(items, [2]*ast.Term{ast.StringTerm("ccx"), ast.StringTerm(key.CCX)})
				}
			}
			return ast.ObjectTerm(items...), nil
		})),
		rego.Function1(decl1("provost.scope_chain", types.S, types.NewArray(nil, types.S)), str1(func(s string) (*ast.Term, error) {
			if p, ok := scope.Parent(s); ok {
				return ast.ArrayTerm(ast.StringTerm(s), ast.StringTerm(p)), nil
			}
			return ast.ArrayTerm(ast.StringTerm(s)), nil
		})),
		rego.Function1(decl1("provost.implied", types.S, tSetS), str1(func(r string) (*ast.Term, error) {
			return stringSet(ix.Implies(r)), nil
		})),
		rego.Function2(decl2("provost.direct_roles", types.S, types.S, tSetS, true), str2(func(u, s string) (*ast.Term, error) {
			return stringSet(ix.DirectRoles(u, s)), nil
		})),
		rego.Function2(decl2("provost.roles", types.S, types.S, tSetS, true), str2(func(u, s string) (*ast.Term, error) {
			return stringSet(ix.Roles(u, s)), nil
		})),
		rego.Function2(decl2("provost.holder_count", types.S, types.S, types.N, true), str2(func(r, s string) (*ast.Term, error) {
			return ast.IntNumberTerm(ix.HolderCount(r, s)), nil
		})),
		rego.Function2(decl2("provost.scopes", types.S, types.S, tSetS, true), str2(func(u, r string) (*ast.Term, error) {
			return stringSet(ix.Scopes(u, r)), nil
		})),
		rego.Function2(decl2("provost.members", types.S, types.S, tSetS, true), str2(func(s, r string) (*ast.Term, error) {
			return stringSet(ix.Members(s, r)), nil
		})),
		rego.Function2(decl2("provost.resource", types.S, types.S, tObj, true), str2(func(t, id string) (*ast.Term, error) {
			if o, ok := cat.Resource(t, id); ok {
				return ast.NewTerm(o), nil
			}
			return ast.ObjectTerm(), nil
		})),
		rego.Function3(&rego.Function{Name: "provost.resources_where", Decl: types.NewFunction(types.Args(types.S, types.S, types.A), tSetS)},
			func(_ rego.BuiltinContext, a, b, c *ast.Term) (*ast.Term, error) {
				t, err := stringArg(a, 1)
				if err != nil {
					return nil, err
				}
				p, err := stringArg(b, 2)
				if err != nil {
					return nil, err
				}
				v, err := ast.JSON(c.Value)
				if err != nil {
					return nil, err
				}
				return stringSet(cat.ResourcesWhere(t, p, v)), nil
			}),
		rego.Function2(&rego.Function{Name: "provost.users_where", Decl: types.NewFunction(types.Args(types.S, types.A), tSetS)},
			func(_ rego.BuiltinContext, a, b *ast.Term) (*ast.Term, error) {
				p, err := stringArg(a, 1)
				if err != nil {
					return nil, err
				}
				v, err := ast.JSON(b.Value)
				if err != nil {
					return nil, err
				}
				return stringSet(cat.UsersWhere(p, v)), nil
			}),
	}
}
