package sandboxd_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"

	"google.golang.org/grpc/codes"

	pb "github.com/sandboxd/sandboxd/clients/go/gen/sandboxd/v1"
	"github.com/sandboxd/sandboxd/clients/go/sandboxd"
)

// hostAddress is an address of this machine other than loopback (the kernel's choice for
// an outgoing packet; none is sent).
func hostAddress(t *testing.T) string {
	t.Helper()
	c, err := net.Dial("udp4", "192.0.2.1:9")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}

// serveOn starts an HTTP server of this machine on 0.0.0.0 answering "<name> server"; its port.
func serveOn(t *testing.T, name string) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "%s server\n", name) })}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func TestC27EgressAllowList(t *testing.T) {
	ctx := testContext(t)
	hostIP := hostAddress(t)
	listed, unlisted := serveOn(t, "listed"), serveOn(t, "unlisted")
	spec := &pb.SandboxSpec{
		Language: "python",
		Network:  pb.NetworkMode_NETWORK_MODE_ALLOW_LIST,
		Egress:   &pb.EgressPolicy{Cidrs: []string{hostIP + "/32"}, Ports: []uint32{uint32(listed)}},
	}
	sb, err := client.CreateSandbox(ctx, spec)
	if os.Getenv("SANDBOXD_TEST_BACKEND") == "kubernetes" {
		var e *sandboxd.Error
		if !errors.As(err, &e) || e.Code != codes.FailedPrecondition || e.Reason != "NOT_SUPPORTED_BY_BACKEND" {
			t.Fatalf("allow-list on Kubernetes: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = sb.Destroy(context.Background()) })
	code := fmt.Sprintf("import urllib.request, urllib.error\n"+
		"for port in (%d, %d):\n"+
		"    try:\n"+
		"        print(urllib.request.urlopen('http://%s:%%d/' %% port, timeout=10).read().decode().strip())\n"+
		"    except urllib.error.HTTPError as e:\n"+
		"        print('refused', e.code)\n", listed, unlisted, hostIP)
	r := mustCollect(t, sb.Run(ctx, code))
	eq(t, "stderr", r.Stderr, "")
	eq(t, "stdout", r.Stdout, "listed server\nrefused 403\n")
}
