package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/keywarden/keywarden/appliance/apptest"
	"github.com/keywarden/keywarden/appliance/client"
)

// TestWitness: two appliances and a witness form a cluster that survives
// losing one appliance, and the witness stores nothing but ciphertext.
func TestWitness(t *testing.T) {
	c := formCluster(t, 2)
	n1, n2 := c.nodes[0], c.nodes[1]
	ctx := apptest.Context(t)
	admin1 := n1.admin(t)

	// Material the witness must never see in plaintext: the passphrases and
	// an imported private key.
	imported, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(imported)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if _, err := admin1.ImportKeyPEM(ctx, "imported", client.KeyImportArguments{Mechanisms: []client.KeyMechanism{"ECDSA_Signature"}}, keyPEM); err != nil {
		t.Fatal(err)
	}
	if err := admin1.AddUser(ctx, "op1", client.NewUser{RealName: "Op", Role: "Operator", Passphrase: operatorPass}); err != nil {
		t.Fatal(err)
	}

	w := startWitness(t, c)
	waitVoters(t, admin1, 3)

	// One appliance down: the other and the witness still have a quorum.
	n2.Kill()
	sc := signCases()[0]
	sc.gen.ID, sc.id = "after-loss", "after-loss"
	if _, err := admin1.GenerateKey(apptest.Context(t), sc.gen); err != nil {
		t.Fatalf("write with one appliance down and the witness up: %v", err)
	}
	signAndVerify(t, n1.Client("op1", operatorPass), admin1, sc)
	if st, err := n1.Client("", "").State(apptest.Context(t)); err != nil || st != "Operational" {
		t.Fatalf("node 1 with the witness: got %q, %v; want Operational", st, err)
	}

	w.stop(t)
	scalar := imported.D.Bytes()
	assertNoSecretsIn(t, w.dir, unlockPass, adminPass, operatorPass, backupPass, string(der), string(scalar))
}

type witness struct {
	cmd  *exec.Cmd
	dir  string
	done chan error
}

// startWitness registers a witness through node 1 and runs `keywardend
// witness` with the registration's answer.
func startWitness(t *testing.T, c *testCluster) *witness {
	t.Helper()
	ctx := apptest.Context(t)
	files := t.TempDir()
	peer := apptest.FreeAddr(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	added, err := c.nodes[0].admin(t).AddClusterMember(ctx, []string{"https://" + peer})
	if err != nil {
		t.Fatalf("register the witness: %v", err)
	}
	members, _ := json.Marshal(added)
	write := func(name string, b []byte) string {
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	w := &witness{dir: filepath.Join(t.TempDir(), "witness"), done: make(chan error, 1)}
	w.cmd = exec.Command(apptest.Binary(t), "witness", "--name", "witness-1", "--data-dir", w.dir,
		"--peer-listen", peer,
		"--cert", write("cert.pem", c.ca.issuePeer(t, key.Public())),
		"--key", write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})),
		"--ca", write("ca.pem", c.ca.pem),
		"--members-json", write("members.json", members))
	logs := &apptest.LogBuffer{}
	w.cmd.Stderr = logs
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.done <- w.cmd.Wait() }()
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Process.Kill()
			<-w.done
		}
		if t.Failed() {
			t.Logf("witness log:\n%s", logs)
		}
	})
	return w
}

// stop ends the witness with SIGTERM; it must exit cleanly.
func (w *witness) stop(t *testing.T) {
	t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-w.done:
		if err != nil {
			t.Fatalf("witness exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("witness did not stop within 15 s of SIGTERM")
	}
}

// waitVoters polls until the cluster has n voting members.
func waitVoters(t *testing.T, admin *client.Client, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var members []client.ClusterMember
	var err error
	for time.Now().Before(deadline) {
		members, err = admin.ClusterMembers(apptest.Context(t))
		voters := 0
		for _, m := range members {
			if !m.Learner {
				voters++
			}
		}
		if err == nil && voters == n {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("cluster members: %v (%v), want %d voters", members, err, n)
}
