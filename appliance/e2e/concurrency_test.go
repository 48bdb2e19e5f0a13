package e2e

import (
	"sync"
	"testing"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// TestConcurrentClientsNotThrottled: an application server that opens many
// connections at once with the right credentials must never see 429, even
// before its credentials are cached, while wrong ones still are limited
// (TestRateLimit).
func TestConcurrentClientsNotThrottled(t *testing.T) {
	d := apptest.Start(t, apptest.Options{})
	provision(t, d)
	ctx := apptest.Context(t)
	admin := d.Client("admin", adminPass)
	if err := admin.AddUser(ctx, "pool", client.NewUser{RealName: "Pool", Role: "Operator", Passphrase: operatorPass}); err != nil {
		t.Fatal(err)
	}
	const clients = 40
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := make(chan struct{})
	for range clients {
		c := d.Client("pool", operatorPass) // one client, one connection each
		wg.Go(func() {
			<-start
			if _, err := c.Random(ctx, 16); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a client with the right credentials: %v", err)
	}
}
