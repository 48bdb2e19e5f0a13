// Package keywarden_test holds repository-wide checks of the layout the design
// fixes: every package documents its job, and packages import only in the
// allowed direction.
package keywarden_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Doc        string
	Name       string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

const module = "github.com/keywarden/keywarden/"

// TestEveryPackageHasDoc: a package name says its one job, and its doc
// comment says it.
func TestEveryPackageHasDoc(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) > 0 && strings.TrimSpace(p.Doc) == "" {
			t.Errorf("package %s has no doc comment", p.ImportPath)
		}
	}
}

// TestImportDirection enforces cmd -> appliance -> {rot, hsm, netcfg, cluster,
// image, systemd}: leaf packages never import appliance or each other
// (except rot/pkcs11 -> hsm), and rot stays free of cgo-heavy dependencies.
func TestImportDirection(t *testing.T) {
	leaves := []string{"rot", "hsm", "netcfg", "cluster", "image", "systemd"}
	top := func(path string) string {
		rest := strings.TrimPrefix(path, module)
		first, _, _ := strings.Cut(rest, "/")
		return first
	}
	for _, p := range listPackages(t) {
		from := top(p.ImportPath)
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to := top(imp)
			switch {
			case to == "cmd":
				t.Errorf("%s imports %s: nothing imports a command", p.ImportPath, imp)
			case to == "appliance" && from != "appliance" && from != "cmd":
				t.Errorf("%s imports %s: only cmd may import appliance", p.ImportPath, imp)
			case contains(leaves, from) && contains(leaves, to) && from != to &&
				!(strings.HasPrefix(p.ImportPath, module+"rot/pkcs11") && to == "hsm"):
				t.Errorf("%s imports %s: leaf packages do not import each other", p.ImportPath, imp)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
