package cluster

import (
	"context"
	"fmt"
	"testing"
)

// benchValue is the size of a typical stored item: a wrapped key with its
// AES-GCM envelope.
var benchValue = make([]byte, 512)

func BenchmarkGet(b *testing.B) {
	kv := startMember(b, "").KV()
	mustTxn(b, kv, Put("/bench/get", benchValue))
	ctx := context.Background()
	for b.Loop() {
		if _, err := kv.Get(ctx, "/bench/get"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTxnPut measures a conditional write, the appliance's common case:
// each durable, so it is bounded by fsync.
func BenchmarkTxnPut(b *testing.B) {
	kv := startMember(b, "").KV()
	ctx := context.Background()
	i := 0
	for b.Loop() {
		key := fmt.Sprintf("/bench/txn/%d", i)
		if _, err := kv.Txn(ctx, []Cond{Absent(key)}, []Op{Put(key, benchValue)}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
