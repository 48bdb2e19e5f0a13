package backupfile_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"

	"golang.org/x/crypto/argon2"

	"github.com/keywarden/keywarden/appliance/backupfile"
)

// The caller runs the passphrase KDF; the header carries its parameters.
func deriveKey(passphrase string, kdf backupfile.KDF, salt []byte) []byte {
	return argon2.IDKey([]byte(passphrase), salt, kdf.Time, kdf.MemoryKiB, kdf.Threads, backupfile.KeySize)
}

func Example() {
	kdf := backupfile.KDF{Alg: backupfile.KDFArgon2id, Time: 1, MemoryKiB: 64, Threads: 1} // a test cost
	salt := make([]byte, 16)
	rand.Read(salt)

	var file bytes.Buffer
	w, err := backupfile.NewWriter(&file, deriveKey("backup passphrase", kdf, salt), kdf, salt, []byte(`{"cluster":"demo"}`))
	if err != nil {
		log.Fatal(err)
	}
	w.Add("/kw/v1/keys/a", []byte("sealed value a"))
	w.Add("/kw/v1/keys/b", []byte("sealed value b"))
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	o, err := backupfile.ReadHeader(&file)
	if err != nil {
		log.Fatal(err)
	}
	h := o.Header()
	r, err := o.Open(deriveKey("backup passphrase", h.KDF, h.Salt))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("meta %s\n", r.Meta())
	for {
		key, value, err := r.Next()
		if errors.Is(err, io.EOF) {
			break // only now is the whole file known to be authentic
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s = %s\n", key, value)
	}
	// Output:
	// meta {"cluster":"demo"}
	// /kw/v1/keys/a = sealed value a
	// /kw/v1/keys/b = sealed value b
}
