// Package cluster runs the appliance's embedded etcd member and exposes the
// store through the small KV contract the rest of the appliance depends on.
//
// A Member is one embedded etcd server plus the only client that talks to it:
// New checks nothing and starts nothing, Start brings etcd up and waits until it
// serves, KV hands out the store, and Close stops the client and then the
// server. The client reaches its member through a unix socket inside the data
// directory, so nothing outside the appliance daemon can use the store. A
// single appliance opens no network port at all; a clustered one listens for
// peers on the address it is configured with.
//
// Membership changes (join, learner promotion, removal) and the witness mode
// will live here too.
package cluster
