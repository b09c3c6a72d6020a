package sandboxd_test

import (
	"fmt"
	"testing"
	"time"

	pb "github.com/sandboxd/sandboxd/clients/go/gen/sandboxd/v1"
	"github.com/sandboxd/sandboxd/clients/go/sandboxd"
)

// Warm pools (docs/pools.md): a member is handed out once, an exhausted FAIL_FAST pool says
// POOL_EXHAUSTED, DeletePool with destroy_sandboxes destroys what was handed out.
func TestWarmPoolAcquireOnceAndExhaustion(t *testing.T) {
	ctx := testContext(t)
	name := fmt.Sprintf("go-%d", time.Now().UnixNano())
	pool, err := client.CreatePool(ctx, &pb.CreatePoolRequest{
		Name:     name,
		Spec:     &pb.SandboxSpec{Language: "python"},
		Settings: &pb.PoolSettings{MinReady: 1, MaxSize: 1, ExhaustionStrategy: pb.ExhaustionStrategy_EXHAUSTION_STRATEGY_FAIL_FAST},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = client.DeletePool(ctx, pool.GetId(), true) }()
	sb, err := client.AcquireSandbox(ctx, name, &pb.SandboxSpec{Labels: map[string]string{"job": "go"}})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "pool id", sb.Info.GetPoolId(), pool.GetId())
	eq(t, "from pool", sb.Info.GetFromPool(), true)
	_, err = client.AcquireSandbox(ctx, pool.GetId(), nil)
	if !sandboxd.IsReason(err, "POOL_EXHAUSTED") {
		t.Fatalf("second acquisition of a max_size 1 pool: got %v, want POOL_EXHAUSTED", err)
	}
	got, err := client.GetPool(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "in use", got.GetStats().GetInUse(), uint32(1))
	deleted, err := client.DeletePool(ctx, pool.GetId(), true)
	if err != nil || !deleted {
		t.Fatalf("delete: %v %v", deleted, err)
	}
	if _, err := client.GetSandbox(ctx, sb.ID); !sandboxd.IsReason(err, "SANDBOX_NOT_FOUND") && !sandboxd.IsReason(err, "SANDBOX_DESTROYED") {
		t.Fatalf("the handed-out sandbox after DeletePool(destroy_sandboxes): %v", err)
	}
}
