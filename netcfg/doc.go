// Package netcfg will apply the appliance's network configuration through
// netlink as desired state, and keep its clock (NTP). It is empty until the
// network, time and logging issue.
package netcfg
