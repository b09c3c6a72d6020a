package sandboxd_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/sandboxd/sandboxd/clients/go/gen/sandboxd/v1"
	"github.com/sandboxd/sandboxd/clients/go/sandboxd"
)

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

// C18 (clients/CONFORMANCE.md): bearer tokens and tenants, on a daemon of its own.
func TestC18TokensAndTenants(t *testing.T) {
	d, err := startDaemon("SANDBOXD_AUTH__TOKENS=alpha:" + hashToken("alpha-secret") + ",beta:" + hashToken("beta-secret"))
	if err != nil {
		t.Fatalf("cannot start sandboxd: %v", err)
	}
	t.Cleanup(func() {
		if left := d.stop(); len(left) > 0 {
			t.Errorf("left containers behind: %v", left)
		}
	})
	ctx := testContext(t)

	t.Setenv("SANDBOXD_TOKEN", "")
	anon, err := sandboxd.New(d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	_, err = anon.ListSandboxes(ctx, nil)
	eq(t, "no token", sandboxd.CodeOf(err), codes.Unauthenticated)

	t.Setenv("SANDBOXD_TOKEN", "alpha-secret")
	alpha, err := sandboxd.New(d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer alpha.Close()
	beta, err := sandboxd.New(d.addr, sandboxd.WithToken("beta-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer beta.Close()

	sb, err := alpha.CreateSandbox(ctx, &pb.SandboxSpec{Language: "python"})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Destroy(ctx)
	eq(t, "alpha runs", mustCollect(t, sb.Run(ctx, "print('alpha')")).Stdout, "alpha\n")
	list, err := beta.ListSandboxes(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.GetId() == sb.ID {
			t.Fatal("beta sees alpha's sandbox")
		}
	}
	_, err = beta.GetSandbox(ctx, sb.ID)
	eq(t, "beta gets alpha's", sandboxd.CodeOf(err), codes.NotFound)
}
