package appliance

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keywarden/keywarden/appliance/keyring"
	"github.com/keywarden/keywarden/appliance/tlsconf"
	"github.com/keywarden/keywarden/cluster"
	"github.com/keywarden/keywarden/hsm"
)

// Store paths. Clustered paths are shared by every node; node-local ones live
// under /kw/v1/local/<node-id>/ and are sealed under the device key.
const (
	pathUnlockSlot = "/kw/v1/domain/unlock"
	pathBackup     = "/kw/v1/config/backup"
)

func (a *Appliance) localPath(name string) string {
	return "/kw/v1/local/" + a.nodeID + "/" + name
}

// loadLocal reads the node-local configuration: the TLS identity (created on
// first boot), log forwarding, the clock (with its stored offset) and NTP.
func (a *Appliance) loadLocal(ctx context.Context) error {
	id, err := a.loadTLS(ctx)
	if err != nil {
		return err
	}
	a.setTLS(id)
	if err := a.loadLogging(ctx); err != nil {
		return err
	}
	if err := a.loadNetwork(ctx); err != nil {
		return err
	}
	var offset time.Duration
	it, err := a.local.Get(ctx, a.localPath("time-offset"))
	switch {
	case errors.Is(err, cluster.ErrNotFound):
	case err != nil:
		return err
	case len(it.Value) == 8:
		offset = time.Duration(binary.BigEndian.Uint64(it.Value))
	}
	a.openClock(offset)
	return a.loadNTP(ctx)
}

func (a *Appliance) loadTLS(ctx context.Context) (*tlsconf.Identity, error) {
	it, err := a.local.Get(ctx, a.localPath("tls"))
	if errors.Is(err, cluster.ErrNotFound) {
		id, err := a.newTLSIdentity(ctx, "EC_P256", 0)
		if err != nil {
			return nil, err
		}
		a.log.Info("generated a self-signed TLS certificate for the API", "key", keyHome(id))
		return id, a.storeTLS(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	id := new(tlsconf.Identity)
	return id, id.UnmarshalResolve(it.Value, a.resolveTLSKey(ctx))
}

// tokenKeys is implemented by roots of trust that hold keys for the
// appliance (PKCS#11): the TLS private key is generated and used inside the
// token and never exists in process memory.
type tokenKeys interface {
	Signer(ctx context.Context, name string) (*hsm.Signer, error)
	DestroyKey(ctx context.Context, name string) error
}

// newTLSIdentity makes a TLS key with a self-signed certificate: inside the
// token when the root of trust has one, in memory otherwise.
func (a *Appliance) newTLSIdentity(ctx context.Context, keyType string, bits int) (*tlsconf.Identity, error) {
	tk, ok := a.rot.(tokenKeys)
	if !ok {
		return tlsconf.Generate(tlsconf.KeyType(keyType), bits, a.tlsHosts())
	}
	if keyType != "EC_P256" {
		return nil, fmt.Errorf("%w: the TLS key lives in the PKCS#11 token, which makes EC_P256 keys only", tlsconf.ErrUnsupported)
	}
	name := "tls-" + hex.EncodeToString(keyring.NewKey()[:4])
	s, err := tk.Signer(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("create the TLS key in the token: %w", err)
	}
	return tlsconf.GenerateExternal(s, name, a.tlsHosts())
}

// resolveTLSKey finds a TLS key kept in the token by its name.
func (a *Appliance) resolveTLSKey(ctx context.Context) func(string) (crypto.Signer, error) {
	return func(name string) (crypto.Signer, error) {
		tk, ok := a.rot.(tokenKeys)
		if !ok {
			return nil, fmt.Errorf("the TLS key %q is in a PKCS#11 token, but the root of trust is %s", name, a.cfg.RoT)
		}
		return tk.Signer(ctx, name)
	}
}

func keyHome(id *tlsconf.Identity) string {
	if ref := id.External(); ref != "" {
		return "in the token (" + ref + ")"
	}
	return "in memory, stored sealed"
}

func (a *Appliance) storeTLS(ctx context.Context, id *tlsconf.Identity) error {
	b, err := id.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = a.local.Txn(ctx, nil, a.local.Put(a.localPath("tls"), b))
	return err
}

// tlsHosts are the names the self-signed certificate is valid for.
func (a *Appliance) tlsHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, _, _ := strings.Cut(a.cfg.Listen, ":"); h != "" && h != "0.0.0.0" {
		hosts = append(hosts, strings.Trim(h, "[]"))
	}
	if name, err := os.Hostname(); err == nil {
		hosts = append(hosts, name)
	}
	return hosts
}

// ephemeralTLS gives a Failed appliance a throw-away certificate, so that the
// operator can still reach the API and read why it failed.
func (a *Appliance) ephemeralTLS() error {
	id, err := tlsconf.Generate(tlsconf.KeyType("EC_P256"), 0, a.tlsHosts())
	if err != nil {
		return err
	}
	a.setTLS(id)
	return nil
}

// setTLS makes id the identity of the API from the next handshake on.
func (a *Appliance) setTLS(id *tlsconf.Identity) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tlsID = id
	if a.tls == nil {
		a.tls = tlsconf.NewServer(id)
		return
	}
	a.tls.SetIdentity(id)
}

func (a *Appliance) storeOffset(ctx context.Context, d time.Duration) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(d))
	_, err := a.local.Txn(ctx, nil, a.local.Put(a.localPath("time-offset"), b[:]))
	return err
}

func loadOrCreateNodeID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if len(id) != 16 {
			return "", fmt.Errorf("node id in %s is malformed", path)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read node id: %w", err)
	}
	raw := make([]byte, 8)
	_, _ = rand.Read(raw)
	id := hex.EncodeToString(raw)
	return id, writeFileAtomic(path, []byte(id+"\n"))
}

// writeFileAtomic writes data to path with mode 0600 so that a crash leaves
// either the old or the new content, never a torn file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(path)) // make the rename itself durable
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// getLocal reads the node-local JSON value name into a T; ok is false when
// none is stored.
func getLocal[T any](ctx context.Context, a *Appliance, name string) (v T, ok bool, err error) {
	it, err := a.local.Get(ctx, a.localPath(name))
	if errors.Is(err, cluster.ErrNotFound) {
		return v, false, nil
	}
	if err != nil {
		return v, false, err
	}
	if err := json.Unmarshal(it.Value, &v); err != nil {
		return v, false, fmt.Errorf("decode node-local %s configuration: %w", name, err)
	}
	return v, true, nil
}
