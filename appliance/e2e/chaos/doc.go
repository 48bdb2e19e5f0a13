// Package chaos checks that Keywarden's key set stays linearizable and
// durable while cluster nodes are killed and restarted underneath concurrent
// clients.
//
// The package has four parts that the end-to-end chaos test plugs real nodes
// into:
//
//   - a porcupine [Model] of the key set as the REST API shows it, partitioned
//     by key ID so that every key is an independent register that is either
//     present or absent;
//   - a [History] recorder that timestamps every client operation with a
//     monotonic clock and every nemesis action as an annotation;
//   - two checkers over the recorded history: [Check] (linearizability, via
//     porcupine) and [CheckLostWrites] (the final key set on every node agrees
//     with every acknowledged create and delete);
//   - [Run], which drives clients and a nemesis against a set of [Node]s for a
//     bounded time.
//
// The package itself knows nothing about HTTP or processes: the e2e test
// implements [Node] over the API client and apptest daemons. A typical test:
//
//	res, err := chaos.Run(ctx, chaos.Config{Nodes: nodes, Clients: 8,
//		Duration: time.Minute, Keys: 6, KillEvery: 5 * time.Second, MaxDown: 1,
//		UnknownHorizon: time.Minute, Seed: seed, Log: t.Logf})
//	if err != nil {
//		t.Fatalf("chaos run: %v", err)
//	}
//	ops := res.History.Operations()
//	ok, info, err := chaos.Check(ops, 5*time.Minute)
//	if err != nil || !ok { // a timeout proves nothing: fail, and show what was found
//		path := filepath.Join(t.TempDir(), "history.html")
//		_ = chaos.Visualize(path, info, res.History.Annotations())
//		t.Errorf("linearizable %v, %v; see %s", ok, err, path)
//	}
//	// once every node is back and they agree (poll with a deadline):
//	findings, err := chaos.CheckLostWrites(ops, finalKeysPerNode)
//	for _, f := range findings {
//		t.Errorf("%v", f)
//	}
//
// # Unknown outcomes
//
// A client that gets a 5xx, a timeout or a broken connection cannot tell
// whether its operation took effect. Following porcupine's idiom (and
// Jepsen's), such a create or delete is recorded with output [Unknown] and a
// late return time, and the model lets it either take effect or not, so the
// checker may place its effect anywhere after its call, or nowhere. An
// unknown [Use] changes nothing, so it keeps its real return time.
//
// "Late" is the end of the history unless [Config.UnknownHorizon] bounds how
// long after the client gave up a request may still apply. Unbounded assumes
// nothing but weakens the checks as Unknowns pile up (each Unknown delete can
// explain one later disappearance of its key) and makes porcupine slow to
// prove a violation; see [NewHistory].
package chaos
