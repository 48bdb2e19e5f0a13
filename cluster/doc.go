// Package cluster runs the appliance's embedded etcd member, changes the
// cluster's membership, and exposes the store through the small KV contract
// the rest of the appliance depends on.
//
// A Member is one embedded etcd server plus the only client that talks to it:
// New checks nothing and starts nothing, Start brings etcd up and waits until it
// serves, KV hands out the store, and Close stops the client and then the
// server. The client reaches its member through a unix socket inside the data
// directory, so nothing outside the appliance daemon can use the store. A
// single appliance opens no network port at all; a clustered one listens for
// peers on the address it is configured with, over mutual TLS when it has a
// peer certificate (Config.PeerTLS).
//
// A cluster grows one member at a time, learner first: an existing member
// registers the newcomer (AddLearner), the newcomer starts with Config.Join
// and the members AddLearner returned (InitialClusterFor), catches up as a
// non-voting learner, and is then promoted (Promote, AwaitPromotion). A
// single appliance becomes the first member of a cluster by restarting with
// Config.PeerListen: Start then moves its recorded peer URL there.
//
// The witness mode will live here too.
package cluster
