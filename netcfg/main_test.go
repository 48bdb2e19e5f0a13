package netcfg

import (
	"testing"

	"github.com/keywarden/keywarden/netcfg/netcfgtest"
)

// TestMain lets the namespace tests run without root where the kernel
// allows user namespaces.
func TestMain(m *testing.M) { netcfgtest.Main(m) }
