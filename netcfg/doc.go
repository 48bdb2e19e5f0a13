// Package netcfg applies the appliance's network configuration (the NetHSM
// API's /config/network: one IPv4 address with netmask and gateway, and an
// optional IPv6 address and gateway) to one interface through netlink, as
// desired state. Sub-package timesync keeps the clock.
//
// A Manager makes the kernel match the desired Config exactly on what it
// owns (global permanent addresses, main-table default routes through the
// interface, link up; see Manager) and its Run loop repairs drift, woken by
// netlink updates and by a periodic resync. The Manager persists nothing:
// the caller stores confirmed configs and applies the stored one at every
// start. Try applies a config tentatively and reverts it by itself unless
// it is confirmed in time, so that an operator who cuts themselves off gets
// the old network back.
//
//	m, err := netcfg.NewManager("eth0", log)
//	...
//	err = m.Apply(ctx, stored) // errors.Is(err, netcfg.ErrInvalid): the API's 400
//	go m.Run(ctx)
//	id, err := m.Try(ctx, proposed, 0) // back to stored in 60 s unless m.Confirm(id)
package netcfg
