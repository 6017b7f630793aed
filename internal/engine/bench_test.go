package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/provost-lms/provost/internal/engine"
	"github.com/provost-lms/provost/internal/fixtures"
	"github.com/provost-lms/provost/internal/pack"
	"github.com/provost-lms/provost/internal/store"
)

// benchData builds n synthetic assignments: about five per user over n/20
// courses of two orgs, with the roles the openedx pack checks for Studio.
func benchData(n int) (fixtures.Data, []map[string]any) {
	rng := rand.New(rand.NewPCG(1, 2))
	users, courses := max(n/5, 1), max(n/20, 1)
	roles := []string{"instructor", "staff", "limited_staff", "beta_tester", "forum_student"}
	course := func(i int) string {
		org := "Marvel"
		if i%2 == 1 {
			org = "DC"
		}
		return fmt.Sprintf("course-v1:%s+C%d+2026", org, i)
	}
	var d fixtures.Data
	seen := map[fixtures.Assignment]bool{}
	for len(d.Assignments) < n {
		a := fixtures.Assignment{User: fmt.Sprintf("u%d", rng.IntN(users)), Role: roles[rng.IntN(len(roles))],
			Scope: "course:" + course(rng.IntN(courses))}
		if !seen[a] {
			seen[a] = true
			d.Assignments = append(d.Assignments, a)
		}
	}
	// Requests: half by a holder on their own course, half random.
	reqs := make([]map[string]any, 1024)
	for i := range reqs {
		user, key := fmt.Sprintf("u%d", rng.IntN(users)), course(rng.IntN(courses))
		if i%2 == 0 {
			a := d.Assignments[rng.IntN(len(d.Assignments))]
			user, key = a.User, a.Scope[len("course:"):]
		}
		reqs[i] = map[string]any{
			"subject":  map[string]any{"type": "user", "id": user},
			"action":   map[string]any{"name": "studio.edit_content"},
			"resource": map[string]any{"type": "course", "id": key},
		}
	}
	return d, reqs
}

func seedBatched(b *testing.B, st store.Store, d fixtures.Data) {
	const batch = 50000
	for i := 0; i < len(d.Assignments); i += batch {
		var c store.Change
		for _, a := range d.Assignments[i:min(i+batch, len(d.Assignments))] {
			c.Grant = append(c.Grant, store.Assignment{User: a.User, Role: a.Role, Scope: a.Scope})
		}
		if err := st.Apply(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecide measures one studio.edit_content decision in process with
// 10 k and 1 M role assignments (Provost: Casbin role index + prepared Rego
// with built-ins), beside OPA's own prepared evaluation of the same pack
// with its pure-Rego hooks reading the same assignments as JSON data.
func BenchmarkDecide(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10_000, 1_000_000} {
		d, reqs := benchData(n)
		b.Run(fmt.Sprintf("provost/assignments=%d", n), func(b *testing.B) {
			st := openStore(b)
			seedBatched(b, st, d)
			e := openEngine(b, st, "openedx")
			ereqs := make([]*engine.Request, len(reqs))
			for i, r := range reqs {
				ereqs[i] = request(b, r)
			}
			allowed := 0
			for i, r := range ereqs {
				d := e.Decide(ctx, r)
				if d.Error != "" {
					b.Fatalf("request %d: %s", i, d.Error)
				}
				if d.Allow {
					allowed++
				}
			}
			if allowed == 0 || allowed == len(ereqs) {
				b.Fatalf("allowed %d of %d: the mix must hold both answers", allowed, len(ereqs))
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				e.Decide(ctx, ereqs[i%len(ereqs)])
				i++
			}
		})
		b.Run(fmt.Sprintf("opa/assignments=%d", n), func(b *testing.B) {
			p, err := pack.Load(policyDir, "openedx")
			if err != nil {
				b.Fatal(err)
			}
			f := &fixtures.File{Pack: "openedx", Data: d}
			ref, err := fixtures.NewReference(ctx, p, f, nil)
			if err != nil {
				b.Fatal(err)
			}
			_ = ref
			implies := map[string]any{"instructor": []any{"staff", "limited_staff", "beta_tester"}, "staff": []any{"limited_staff"}}
			st := inmem.NewFromObject(map[string]any{"settings": p.Settings, "store": fixtures.StoreDocument(d, implies)})
			opts := []func(*rego.Rego){rego.Store(st), rego.Module("hooks.rego", p.Hooks),
				rego.Query("allow = data.openedx.allow; deny = data.openedx.deny")}
			for path, src := range p.Modules {
				opts = append(opts, rego.Module(path, src))
			}
			pq, err := rego.New(opts...).PrepareForEval(ctx)
			if err != nil {
				b.Fatal(err)
			}
			inputs := make([]rego.EvalOption, len(reqs))
			for i, r := range reqs {
				inputs[i] = rego.EvalInput(ref.Input(r))
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if _, err := pq.Eval(ctx, inputs[i%len(inputs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
