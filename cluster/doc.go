// Package cluster runs the appliance's embedded etcd member, changes the
// cluster's membership, and exposes the store through the small KV contract
// the rest of the appliance depends on.
//
// A Member is one embedded etcd server plus the only client that talks to it:
// New checks nothing and starts nothing, Start brings etcd up and waits until
// it serves, KV hands out the store, Restart starts the member again with a
// new configuration under the same store, and Close stops the client and
// then the server. The client reaches its member through a unix socket
// inside the data directory, so nothing outside the appliance daemon can use
// the store. A single appliance opens no network port at all; a clustered
// one listens for peers on the address it is configured with, over mutual
// TLS when it has a peer certificate (Config.PeerTLS). Store calls ride out
// a change of leader by themselves: reads are retried, writes only when they
// were certainly not applied (see retry.go).
//
// A cluster grows one member at a time, learner first: an existing member
// registers the newcomer (AddLearner), the newcomer starts with Config.Join
// and the members AddLearner returned (InitialClusterFor), catches up as a
// non-voting learner, and is then promoted (Promote, AwaitPromotion). A
// single appliance becomes the first member of a cluster by restarting with
// Config.PeerListen: Start then moves its recorded peer URL there.
//
// A member restarting while its peers are down can start without waiting
// for them (Config.StartWithoutQuorum); after losing its quorum for good, it
// can carry on alone with its data (Config.ForceNewCluster) and grow again.
//
// The witness mode will live here too.
package cluster
