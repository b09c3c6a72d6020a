package sandboxd_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/sandboxd/sandboxd/clients/go/gen/sandboxd/v1"
	"github.com/sandboxd/sandboxd/clients/go/sandboxd"
)

// The shared scenarios of clients/CONFORMANCE.md through the Go client.

var (
	sharedOnce    sync.Once
	sharedSandbox *sandboxd.Sandbox
	sharedErr     error
	features      sync.Map
)

// shared is one python sandbox for the scenarios that do not need their own.
func shared(t *testing.T) *sandboxd.Sandbox {
	t.Helper()
	sharedOnce.Do(func() {
		sharedSandbox, sharedErr = client.CreateSandbox(context.Background(), &pb.SandboxSpec{Language: "python"})
	})
	if sharedErr != nil {
		t.Fatalf("create sandbox: %v", sharedErr)
	}
	return sharedSandbox
}

// requireFeature skips, with the reason in the log, when the daemon answers UNIMPLEMENTED;
// SANDBOXD_TEST_REQUIRE_ALL=1 makes that a failure.
func requireFeature(t *testing.T, name string) {
	t.Helper()
	v, ok := features.Load(name)
	if !ok {
		ctx := testContext(t)
		var err error
		switch name {
		case "files":
			s, e := client.Sandboxes.DownloadFiles(ctx, &pb.DownloadFilesRequest{Path: "/x"})
			if e == nil {
				_, e = s.Recv()
			}
			err = e
		case "artifacts":
			_, err = client.Sandboxes.ListArtifacts(ctx, &pb.ListArtifactsRequest{})
		case "interactive":
			_, err = client.Interactive.ListSessions(ctx, &pb.ListSessionsRequest{})
		case "policy":
			_, err = client.Sandboxes.CheckCode(ctx, &pb.CheckCodeRequest{Language: "python", Code: "x = 1"})
		}
		v = sandboxd.CodeOf(err) != codes.Unimplemented
		features.Store(name, v)
	}
	if !v.(bool) {
		msg := fmt.Sprintf("daemon does not implement feature %s yet (UNIMPLEMENTED)", name)
		if os.Getenv("SANDBOXD_TEST_REQUIRE_ALL") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

func mustCollect(t *testing.T, evs sandboxd.Events) *sandboxd.Result {
	t.Helper()
	r, err := sandboxd.Collect(evs)
	if err != nil {
		t.Fatalf("run failed: %v", err)
	}
	return r
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %#v, want %#v", what, got, want)
	}
}

func TestC01Hello(t *testing.T) {
	r := mustCollect(t, shared(t).Run(testContext(t), "print('hello')"))
	eq(t, "stdout", r.Stdout, "hello\n")
	eq(t, "stderr", r.Stderr, "")
	eq(t, "exit code", r.ExitCode, 0)
	eq(t, "status", r.Status, pb.ExitStatus_EXIT_STATUS_EXITED)
	eq(t, "ok", r.OK(), true)
}

func TestC02StreamsKeptApartAndExitCode(t *testing.T) {
	r := mustCollect(t, shared(t).Run(testContext(t), "import sys\nprint('to out')\nprint('to err', file=sys.stderr)\nsys.exit(7)"))
	eq(t, "stdout", r.Stdout, "to out\n")
	eq(t, "stderr", r.Stderr, "to err\n")
	eq(t, "exit code", r.ExitCode, 7)
}

func TestC03OutputIsLiveAndOrdered(t *testing.T) {
	ctx := testContext(t)
	sb := shared(t)
	code := "import os, time\nprint('first', flush=True)\nwhile not os.path.exists('/tmp/c03-go'):\n    time.sleep(0.02)\nprint('second', flush=True)"
	var seen strings.Builder
	for ev, err := range sb.Run(ctx, code, sandboxd.WithRunTimeout(20*time.Second)) {
		if err != nil {
			t.Fatal(err)
		}
		if out := ev.GetOutput(); out != nil {
			seen.Write(out.GetData())
			if strings.Contains(string(out.GetData()), "first") {
				touch, err := sb.Command(ctx, "touch", "/tmp/c03-go")
				if err != nil || touch.ExitCode != 0 {
					t.Fatalf("touch: %v %v", err, touch)
				}
			}
		}
	}
	eq(t, "output", seen.String(), "first\nsecond\n")
}

func TestC04EventNumberingAndOffsets(t *testing.T) {
	r := mustCollect(t, shared(t).Run(testContext(t), "import sys\nfor i in range(30):\n    print('x' * 10, flush=True)\n    print('y' * 5, file=sys.stderr, flush=True)"))
	var offset uint64
	for i, ev := range r.Events {
		eq(t, "seq", ev.GetSeq(), uint64(i+1))
		if out := ev.GetOutput(); out != nil {
			eq(t, "offset", out.GetOffset(), offset)
			offset += uint64(len(out.GetData()))
		}
	}
	eq(t, "stdout", r.Stdout, strings.Repeat("xxxxxxxxxx\n", 30))
	if r.Events[len(r.Events)-1].GetExited() == nil {
		t.Fatal("the last event is not exited")
	}
}

func TestC05DeathBySignal(t *testing.T) {
	r := mustCollect(t, shared(t).Run(testContext(t), "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"))
	eq(t, "status", r.Status, pb.ExitStatus_EXIT_STATUS_KILLED)
	eq(t, "signal", r.Signal, 9)
}

func TestC06TimeoutAndSandboxStaysUsable(t *testing.T) {
	ctx := testContext(t)
	start := time.Now()
	r := mustCollect(t, shared(t).Run(ctx, "import time\nprint('before', flush=True)\ntime.sleep(60)", sandboxd.WithRunTimeout(time.Second)))
	if time.Since(start) > 15*time.Second {
		t.Fatalf("the deadline took %v", time.Since(start))
	}
	eq(t, "status", r.Status, pb.ExitStatus_EXIT_STATUS_TIMEOUT)
	eq(t, "stdout", r.Stdout, "before\n")
	eq(t, "after", mustCollect(t, shared(t).Run(ctx, "print('still here')")).Stdout, "still here\n")
}

func TestC07Exec(t *testing.T) {
	ctx := testContext(t)
	sb := shared(t)
	argv := mustCollect(t, sb.Exec(ctx, &pb.ExecRequest{Argv: []string{"sh", "-c", "echo $1-$FOO", "sh", "arg"}, Env: map[string]string{"FOO": "bar"}}))
	eq(t, "argv stdout", argv.Stdout, "arg-bar\n")
	shell := mustCollect(t, sb.Exec(ctx, &pb.ExecRequest{Shell: "pwd; exit 3", Workdir: "/tmp"}))
	eq(t, "shell stdout", shell.Stdout, "/tmp\n")
	eq(t, "exit code", shell.ExitCode, 3)
}

func TestC08Stdin(t *testing.T) {
	r := mustCollect(t, shared(t).Run(testContext(t), "import sys\nprint(sys.stdin.read().upper())", sandboxd.WithStdin([]byte("from stdin"))))
	eq(t, "stdout", r.Stdout, "FROM STDIN\n")
}

func TestC09Lifecycle(t *testing.T) {
	ctx := testContext(t)
	label := fmt.Sprintf("c09-%d", time.Now().UnixNano())
	sb, err := client.CreateSandbox(ctx, &pb.SandboxSpec{Language: "python", Labels: map[string]string{"suite": label}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetSandbox(ctx, sb.ID); err != nil {
		t.Fatal(err)
	}
	list, err := client.ListSandboxes(ctx, map[string]string{"suite": label})
	if err != nil || len(list) != 1 || list[0].GetId() != sb.ID {
		t.Fatalf("list: %v %v", list, err)
	}
	destroyed, err := sb.Destroy(ctx)
	eq(t, "destroyed", destroyed, true)
	if err != nil {
		t.Fatal(err)
	}
	again, err := sb.Destroy(ctx)
	eq(t, "destroyed again", again, false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.GetSandbox(ctx, sb.ID)
	if !sandboxd.IsReason(err, "SANDBOX_NOT_FOUND") && !sandboxd.IsReason(err, "SANDBOX_DESTROYED") {
		t.Fatalf("get after destroy: %v", err)
	}
}

func TestC10TypedErrors(t *testing.T) {
	ctx := testContext(t)
	_, err := client.CreateSandbox(ctx, &pb.SandboxSpec{Language: "cobol"})
	var e *sandboxd.Error
	if !errors.As(err, &e) {
		t.Fatalf("not a *sandboxd.Error: %v", err)
	}
	eq(t, "code", e.Code, codes.InvalidArgument)
	eq(t, "reason", e.Reason, "LANGUAGE_NOT_SUPPORTED")
	eq(t, "metadata", e.Metadata["language"], "cobol")
	_, err = client.GetSandbox(ctx, "sbx_does_not_exist")
	eq(t, "not found code", sandboxd.CodeOf(err), codes.NotFound)
	eq(t, "not found reason", sandboxd.IsReason(err, "SANDBOX_NOT_FOUND"), true)
}

func TestC11CancelEndsTheRun(t *testing.T) {
	ctx := testContext(t)
	sb := shared(t)
	runCtx, cancel := context.WithCancel(ctx)
	runID := ""
	var lastErr error
	for ev, err := range sb.Run(runCtx, "import time\nprint('running', flush=True)\ntime.sleep(60)", sandboxd.WithRunTimeout(2*time.Minute)) {
		if err != nil {
			lastErr = err
			break
		}
		if s := ev.GetStarted(); s != nil {
			runID = s.GetRunId()
		}
		if ev.GetOutput() != nil {
			cancel()
		}
	}
	cancel()
	eq(t, "code after cancel", sandboxd.CodeOf(lastErr), codes.Canceled)
	after := mustCollect(t, client.Attach(ctx, runID, 0))
	eq(t, "status", after.Status, pb.ExitStatus_EXIT_STATUS_CANCELLED)
	eq(t, "after", mustCollect(t, sb.Run(ctx, "print('ok')")).Stdout, "ok\n")
}

func TestC12AttachFromOffset(t *testing.T) {
	ctx := testContext(t)
	r := mustCollect(t, shared(t).Run(ctx, "print('abcdefghij', end='')"))
	replay := mustCollect(t, client.Attach(ctx, r.RunID, 3))
	eq(t, "replayed", replay.Stdout, "defghij")
}

func TestC13Files(t *testing.T) {
	requireFeature(t, "files")
	ctx := testContext(t)
	sb := shared(t)
	payload := make([]byte, 1<<20)
	for i := range payload {
		payload[i] = byte(i)
	}
	if err := sb.Upload(ctx, "/sandbox/in/data.bin", payload, pb.TransferKind_TRANSFER_KIND_FILE, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	got, err := sb.Shell(ctx, "sha256sum /sandbox/in/data.bin")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "sha256", strings.Fields(got.Stdout)[0], hex.EncodeToString(sum[:]))
	back, _, err := sb.Download(ctx, "/sandbox/in/data.bin")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "round trip", bytes.Equal(back, payload), true)

	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	for name, body := range map[string]string{"a.txt": "A", "sub/b.txt": "B"} {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	if err := sb.Upload(ctx, "/sandbox/tree", tarball.Bytes(), pb.TransferKind_TRANSFER_KIND_TAR, 0); err != nil {
		t.Fatal(err)
	}
	cat, err := sb.Shell(ctx, "cat /sandbox/tree/a.txt /sandbox/tree/sub/b.txt")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "tree", cat.Stdout, "AB")
	_, header, err := sb.Download(ctx, "/sandbox/tree")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "kind", header.GetKind(), pb.TransferKind_TRANSFER_KIND_TAR)
}

func TestC14Artifacts(t *testing.T) {
	requireFeature(t, "artifacts")
	ctx := testContext(t)
	sb, err := client.CreateSandbox(ctx, &pb.SandboxSpec{Language: "python"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = sb.Destroy(context.Background()) })
	r := mustCollect(t, sb.Run(ctx, "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()"))
	eq(t, "exit code", r.ExitCode, 0)
	eq(t, "artifacts", len(r.Artifacts), 1)
	eq(t, "format", r.Artifacts[0].GetFormat(), "png")
	if r.Artifacts[0].GetWidth() == 0 || r.Artifacts[0].GetHeight() == 0 {
		t.Fatal("no width/height")
	}
	if _, err := client.Sandboxes.ClearArtifacts(ctx, &pb.ClearArtifactsRequest{SandboxId: sb.ID}); err != nil {
		t.Fatal(err)
	}
	list, err := client.Sandboxes.ListArtifacts(ctx, &pb.ListArtifactsRequest{SandboxId: sb.ID})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "after clear", len(list.GetArtifacts()), 0)
}

func TestC15IPythonState(t *testing.T) {
	requireFeature(t, "interactive")
	ctx := testContext(t)
	s, err := shared(t).NewSession(ctx, pb.SessionKind_SESSION_KIND_IPYTHON, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	eq(t, "assign", mustCollect(t, s.Run(ctx, "x = 41")).ExitCode, 0)
	eq(t, "read", mustCollect(t, s.Run(ctx, "print(x + 1)")).Stdout, "42\n")
	failed := mustCollect(t, s.Run(ctx, "1 / 0"))
	if failed.OK() {
		t.Fatal("a raising cell reported success")
	}
	eq(t, "state kept", mustCollect(t, s.Run(ctx, "print(x)")).Stdout, "41\n")
}

func TestC20ExecuteStream(t *testing.T) {
	requireFeature(t, "interactive")
	ctx := testContext(t)
	s, err := shared(t).NewSession(ctx, pb.SessionKind_SESSION_KIND_IPYTHON, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	x, err := s.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	var ids []string
	for _, c := range []struct {
		code string
		opts []sandboxd.CellOption
	}{
		{code: "x = 41"},
		{code: "x + 1"},
		{code: "import sys, time\nsys.stdout.write('sleeping\\n')\nsys.stdout.flush()\ntime.sleep(60)"},
		{code: "print('should not run')"},
		{code: "print(x)", opts: []sandboxd.CellOption{sandboxd.WithCellID("last")}},
	} {
		id, err := x.Send(c.code, c.opts...)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	eq(t, "cell ids", strings.Join(ids, ","), "cell-1,cell-2,cell-3,cell-4,last")
	var seen []sandboxd.CellEvent
	interrupted := false
	for {
		ev, err := x.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ev)
		if ev.CellID == "cell-3" && ev.Event.GetOutput() != nil && !interrupted {
			interrupted = true
			if err := x.Interrupt("cell-4"); err != nil { // queued: dropped without running
				t.Fatal(err)
			}
			if err := x.Interrupt("cell-3"); err != nil { // running: stopped
				t.Fatal(err)
			}
			if err := x.CloseSend(); err != nil { // the stream ends once "last" has run
				t.Fatal(err)
			}
		}
	}
	// Events come cell after cell, in the order sent, each tagged with its cell's id.
	var order []string
	last := map[string]*pb.RunEvent{}
	for _, ev := range seen {
		if len(order) == 0 || order[len(order)-1] != ev.CellID {
			order = append(order, ev.CellID)
		}
		last[ev.CellID] = ev.Event
	}
	eq(t, "order", strings.Join(order, ","), strings.Join(ids, ","))
	for _, id := range ids {
		eq(t, id+" ends with exited", last[id].GetExited() != nil, true)
	}
	result := func(id string) *sandboxd.Result {
		t.Helper()
		r, err := x.Result(ctx, id)
		if err != nil {
			t.Fatalf("cell %s: %v", id, err)
		}
		return r
	}
	var shown []string
	for _, ev := range result("cell-2").Events {
		if r := ev.GetResult(); r != nil {
			shown = append(shown, string(r.GetData()["text/plain"]))
		}
	}
	eq(t, "x + 1", strings.Join(shown, ","), "42")
	slept := result("cell-3")
	eq(t, "interrupted stdout", slept.Stdout, "sleeping\n")
	eq(t, "interrupted status", slept.Status, pb.ExitStatus_EXIT_STATUS_CANCELLED)
	eq(t, "stopped before its sleep ended", slept.Duration < 60*time.Second, true)
	dropped := result("cell-4")
	eq(t, "dropped status", dropped.Status, pb.ExitStatus_EXIT_STATUS_CANCELLED)
	eq(t, "dropped stdout", dropped.Stdout, "")
	eq(t, "later cell", result("last").Stdout, "41\n")
	if err := x.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Send("print(1)"); !sandboxd.IsReason(err, "STREAM_CLOSED") {
		t.Fatalf("send after the end: got %v, want STREAM_CLOSED", err)
	}
}

func TestC20ExecuteStreamPolicyRefusal(t *testing.T) {
	requireFeature(t, "interactive")
	requireFeature(t, "policy")
	ctx := testContext(t)
	sb := policySandbox(ctx, t)
	s, err := sb.NewSession(ctx, pb.SessionKind_SESSION_KIND_IPYTHON, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	x, err := s.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	for _, code := range []string{"print('allowed')", "import os\nos.system('ls')"} {
		if _, err := x.Send(code); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.CloseSend(); err != nil {
		t.Fatal(err)
	}
	allowed, err := x.Result(ctx, "cell-1")
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "allowed", allowed.Stdout, "allowed\n")
	refused := func(what string, err error) {
		t.Helper()
		if sandboxd.CodeOf(err) != codes.PermissionDenied || !sandboxd.IsReason(err, "POLICY_VIOLATION") {
			t.Fatalf("%s: got %v, want PERMISSION_DENIED POLICY_VIOLATION", what, err)
		}
	}
	_, err = x.Result(ctx, "cell-2")
	refused("refused cell", err)
	refused("stream", x.Wait(ctx))
	for {
		_, err := x.Recv()
		if err != nil {
			refused("Recv at the end", err)
			break
		}
	}
}

func TestC20ExecuteStreamDeadline(t *testing.T) {
	requireFeature(t, "interactive")
	ctx := testContext(t)
	s, err := shared(t).NewSession(ctx, pb.SessionKind_SESSION_KIND_IPYTHON, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	x, err := s.Execute(short)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	id, err := x.Send("import sys, time\nsys.stdout.write('sleeping\\n')\nsys.stdout.flush()\ntime.sleep(60)")
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, err := x.Recv()
		if err == nil {
			continue
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Recv after the deadline: got %v, want context.DeadlineExceeded", err)
		}
		break
	}
	// The end of the context interrupted the cell rather than leaving it running in the session.
	r, err := x.Result(ctx, id)
	if err != nil {
		t.Fatalf("cell result: %v", err)
	}
	eq(t, "cell status", r.Status, pb.ExitStatus_EXIT_STATUS_CANCELLED)
	eq(t, "stopped before its sleep ended", r.Duration < 60*time.Second, true)
	eq(t, "session free again", mustCollect(t, s.Run(ctx, "print('free')")).Stdout, "free\n")
}

func TestC16ShellState(t *testing.T) {
	requireFeature(t, "interactive")
	ctx := testContext(t)
	s, err := shared(t).NewSession(ctx, pb.SessionKind_SESSION_KIND_SHELL, "/bin/sh", map[string]string{"GREETING": "hi"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	eq(t, "cd", mustCollect(t, s.Run(ctx, "cd /tmp")).ExitCode, 0)
	eq(t, "pwd", mustCollect(t, s.Run(ctx, "pwd")).Stdout, "/tmp\n")
	mustCollect(t, s.Run(ctx, "export FOO=bar"))
	eq(t, "env", mustCollect(t, s.Run(ctx, "echo $FOO $GREETING")).Stdout, "bar hi\n")
	failed := mustCollect(t, s.Run(ctx, "echo oops >&2; false"))
	eq(t, "exit code", failed.ExitCode, 1)
	eq(t, "stderr", failed.Stderr, "oops\n")
	eq(t, "stdout", failed.Stdout, "")
}

// policySandbox is a python sandbox whose policy refuses os.system( (HIGH, threshold MEDIUM),
// destroyed when the test ends.
func policySandbox(ctx context.Context, t *testing.T) *sandboxd.Sandbox {
	t.Helper()
	policy := &pb.SecurityPolicy{
		SeverityThreshold: pb.SecuritySeverity_SECURITY_SEVERITY_MEDIUM,
		Patterns:          []*pb.SecurityPattern{{Pattern: `\bos\.system\s*\(`, Description: "System command execution", Severity: pb.SecuritySeverity_SECURITY_SEVERITY_HIGH}},
	}
	sb, err := client.CreateSandbox(ctx, &pb.SandboxSpec{Language: "python", Security: &pb.SandboxSpec_SecurityPolicy{SecurityPolicy: policy}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = sb.Destroy(context.Background()) })
	return sb
}

func TestC17Policy(t *testing.T) {
	requireFeature(t, "policy")
	ctx := testContext(t)
	sb := policySandbox(ctx, t)
	check, err := client.Sandboxes.CheckCode(ctx, &pb.CheckCodeRequest{Code: "import os\n\nos.system('ls')", Policy: &pb.CheckCodeRequest_SandboxId{SandboxId: sb.ID}})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "safe", check.GetSafe(), false)
	eq(t, "line", check.GetViolations()[0].GetLine(), uint32(3))
	_, err = sandboxd.Collect(sb.Run(ctx, "import os\nos.system('ls')"))
	var e *sandboxd.Error
	if !errors.As(err, &e) || e.Code != codes.PermissionDenied || e.Reason != "POLICY_VIOLATION" || len(e.Violations) == 0 {
		t.Fatalf("policy refusal: %v", err)
	}
}

func TestC19ImageBuild(t *testing.T) {
	ctx := testContext(t)
	tag := fmt.Sprintf("%x", time.Now().UnixNano())
	dockerfile := &pb.Dockerfile{
		Content:      "FROM sandboxd/base:latest\nCOPY note.txt /note.txt\nRUN echo built-" + tag + "\n",
		ContextFiles: map[string][]byte{"note.txt": []byte(tag)},
	}
	var output strings.Builder
	built, err := client.BuildImage(ctx, dockerfile, func(s string) { output.WriteString(s) })
	var e *sandboxd.Error
	if os.Getenv("SANDBOXD_TEST_BACKEND") == "kubernetes" {
		if !errors.As(err, &e) || e.Code != codes.FailedPrecondition || e.Reason != "NOT_SUPPORTED_BY_BACKEND" {
			t.Fatalf("build on Kubernetes: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(output.String(), "\nbuilt-"+tag+"\n") || !strings.HasPrefix(built.GetImage(), "sandboxd-build/") || built.GetCached() {
		t.Fatalf("build: %v, output %q", built, output.String())
	}
	sb, err := client.CreateSandbox(ctx, &pb.SandboxSpec{Language: "bash", Image: built.GetImage()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = sb.Destroy(context.Background()) })
	r := mustCollect(t, sb.Exec(ctx, &pb.ExecRequest{Argv: []string{"cat", "/note.txt"}}))
	eq(t, "context file", r.Stdout, tag)
	calls := 0
	again, err := client.BuildImage(ctx, dockerfile, func(string) { calls++ })
	if err != nil || again.GetImage() != built.GetImage() || !again.GetCached() || calls != 0 {
		t.Fatalf("the same build again: %v %v, %d outputs", again, err, calls)
	}
	output.Reset()
	_, err = client.BuildImage(ctx, &pb.Dockerfile{Content: "FROM sandboxd/base:latest\nRUN echo no-" + tag + " && exit 4\n"}, func(s string) { output.WriteString(s) })
	if !errors.As(err, &e) || e.Code != codes.InvalidArgument || e.Reason != "IMAGE_BUILD_FAILED" || !strings.Contains(output.String(), "\nno-"+tag+"\n") {
		t.Fatalf("failing build: %v, output %q", err, output.String())
	}
}

func TestC23Usage(t *testing.T) {
	ctx := testContext(t)
	const mib = 1 << 20
	sb, err := client.CreateSandbox(ctx, &pb.SandboxSpec{Language: "python"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = sb.Destroy(context.Background()) })
	r := mustCollect(t, sb.Run(ctx, "b = bytearray(50 * 1024 * 1024)\nprint(len(b))"))
	eq(t, "stdout", r.Stdout, fmt.Sprintf("%d\n", 50*mib))
	if r.PeakMemoryBytes < 50*mib || r.CPUTime <= 0 {
		t.Fatalf("the run's usage: peak %d bytes, CPU %v", r.PeakMemoryBytes, r.CPUTime)
	}
	mustCollect(t, sb.Exec(ctx, &pb.ExecRequest{Argv: []string{"sh", "-c", "head -c 3000000 /dev/zero > /tmp/c23"}}))
	u, err := sb.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !u.GetAvailable() || u.GetMemoryPeakBytes() < 50*mib || u.GetMemoryBytes() == 0 || u.GetCpuTimeMs() == 0 || u.GetProcesses() < 1 {
		t.Fatalf("usage: %v", u)
	}
	var tmp uint64
	for _, p := range u.GetPaths() {
		if p.GetPath() == "/tmp" {
			tmp = p.GetUsedBytes()
		}
	}
	if tmp < 3_000_000 {
		t.Fatalf("/tmp used bytes: %d (%v)", tmp, u.GetPaths())
	}
	var e *sandboxd.Error
	for _, err := range sb.Watch(ctx, 50*time.Millisecond) {
		if !errors.As(err, &e) || e.Code != codes.InvalidArgument {
			t.Fatalf("a 50 ms interval: %v", err)
		}
		break
	}
	samples := 0
	for sample, err := range sb.Watch(ctx, 100*time.Millisecond) {
		if err != nil {
			t.Fatal(err)
		}
		if !sample.GetAvailable() {
			t.Fatalf("sample: %v", sample)
		}
		samples++
		if samples == 2 {
			if _, err := sb.Destroy(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if samples > 50 {
			t.Fatal("the stream did not end after the sandbox was destroyed")
		}
	}
	if samples < 2 {
		t.Fatalf("%d samples", samples)
	}
}

func TestC24WatchFiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(testContext(t), 30*time.Second)
	defer cancel()
	sb, err := client.CreateSandbox(ctx, &pb.SandboxSpec{Language: "python"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = sb.Destroy(context.Background()) })
	workdir := sb.Info.GetSpec().GetWorkdir()
	changes, err := sb.WatchFiles(ctx, "", false)
	if err != nil {
		t.Fatal(err)
	}
	mustCollect(t, sb.Exec(ctx, &pb.ExecRequest{Argv: []string{"sh", "-c", "echo hi > c24.txt && mv c24.txt c24-renamed.txt && rm c24-renamed.txt"}}))
	var seen []string
	for e, err := range changes {
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(e.GetType().String(), "FILE_EVENT_TYPE_")
		if e.GetOldPath() != "" {
			seen = append(seen, name+" "+e.GetOldPath()+" -> "+e.GetPath())
		} else {
			seen = append(seen, name+" "+e.GetPath())
		}
		if e.GetType() == pb.FileEventType_FILE_EVENT_TYPE_REMOVE {
			break
		}
	}
	want := []string{
		"CREATE " + workdir + "/c24.txt",
		"WRITE " + workdir + "/c24.txt",
		"RENAME " + workdir + "/c24.txt -> " + workdir + "/c24-renamed.txt",
		"REMOVE " + workdir + "/c24-renamed.txt",
	}
	eq(t, "events", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	_, err = sb.WatchFiles(ctx, "/no/such/dir", false)
	var e *sandboxd.Error
	if !errors.As(err, &e) || e.Code != codes.NotFound || e.Reason != "FILE_WATCH_PATH_NOT_FOUND" {
		t.Fatalf("a missing path: %v", err)
	}
}

func TestEphemeralRun(t *testing.T) {
	r := mustCollect(t, client.RunEphemeral(testContext(t), &pb.RunRequest{Language: "python", Code: "print(6 * 7)"}))
	eq(t, "stdout", r.Stdout, "42\n")
}

const c21Counter = "i=0; while :; do i=$((i+1)); echo $i > /sandbox/count.tmp; mv /sandbox/count.tmp /sandbox/count; sleep 0.05; done"

func c21Count(ctx context.Context, sb *sandboxd.Sandbox) (int, error) {
	r, err := sb.Shell(ctx, "cat /sandbox/count 2>/dev/null || echo 0")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(r.Stdout))
}

func c21Until(t *testing.T, check func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestC21PauseResume(t *testing.T) {
	ctx := testContext(t)
	sb, err := client.CreateSandbox(ctx, &pb.SandboxSpec{Language: "python"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = sb.Destroy(context.Background()) })
	if os.Getenv("SANDBOXD_TEST_BACKEND") == "kubernetes" {
		_, err := sb.Pause(ctx)
		var e *sandboxd.Error
		if !errors.As(err, &e) || e.Code != codes.FailedPrecondition || e.Reason != "NOT_SUPPORTED_BY_BACKEND" {
			t.Fatalf("pause on Kubernetes: %v", err)
		}
		return
	}
	// A counter in a detached run: it goes on after this call ends.
	execCtx, cancel := context.WithCancel(ctx)
	for ev, err := range sb.Exec(execCtx, &pb.ExecRequest{Shell: c21Counter, TimeoutMs: 120_000, DetachOnCancel: true}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetStarted() != nil {
			break
		}
	}
	cancel()
	count := func() int {
		n, err := c21Count(ctx, sb)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	c21Until(t, func() bool { return count() > 3 })
	before := count()
	info, changed, err := client.PauseSandbox(ctx, sb.ID)
	if err != nil || !changed || info.GetState() != pb.SandboxState_SANDBOX_STATE_PAUSED {
		t.Fatalf("pause: %v %v %v", info.GetState(), changed, err)
	}
	again, err := sb.Pause(ctx)
	eq(t, "paused again", again, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.GetSandbox(ctx, sb.ID)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "state", got.Info.GetState(), pb.SandboxState_SANDBOX_STATE_PAUSED)
	if _, err := c21Count(ctx, sb); !sandboxd.IsReason(err, "SANDBOX_PAUSED") {
		t.Fatalf("exec while paused: %v", err)
	}
	time.Sleep(1500 * time.Millisecond)
	info, changed, err = client.ResumeSandbox(ctx, sb.ID)
	if err != nil || !changed || info.GetState() != pb.SandboxState_SANDBOX_STATE_RUNNING {
		t.Fatalf("resume: %v %v %v", info.GetState(), changed, err)
	}
	again, err = sb.Resume(ctx)
	eq(t, "resumed again", again, false)
	if err != nil {
		t.Fatal(err)
	}
	after := count()
	// 1.5 s at 20 steps a second would be 30 steps: frozen, it made only the few around the calls.
	if after-before >= 20 {
		t.Fatalf("the counter went on while paused: %d -> %d", before, after)
	}
	c21Until(t, func() bool { return count() > after+3 })
}

func TestC25Volumes(t *testing.T) {
	ctx := testContext(t)
	var e *sandboxd.Error
	_, err := client.CreateSandbox(ctx, &pb.SandboxSpec{Language: "python", Mounts: []*pb.VolumeMount{
		{Source: &pb.VolumeMount_HostPath{HostPath: "/etc"}, Path: "/data/etc", ReadOnly: true},
	}})
	if !errors.As(err, &e) || e.Code != codes.PermissionDenied || e.Reason != "VOLUME_HOST_PATH_NOT_ALLOWED" {
		t.Fatalf("a host bind the operator did not allow: %v", err)
	}
	name := fmt.Sprintf("c25-go-%x", time.Now().UnixNano())
	if os.Getenv("SANDBOXD_TEST_BACKEND") == "kubernetes" {
		_, err := client.CreateVolume(ctx, name, 0)
		if !errors.As(err, &e) || e.Code != codes.FailedPrecondition || e.Reason != "NOT_SUPPORTED_BY_BACKEND" {
			t.Fatalf("a volume on Kubernetes: %v", err)
		}
		return
	}
	vol, err := client.CreateVolume(ctx, name, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = client.DeleteVolume(context.Background(), vol.GetId()) })
	eq(t, "name", vol.GetName(), name)
	writer, err := client.CreateSandbox(ctx, &pb.SandboxSpec{Language: "python", Mounts: []*pb.VolumeMount{
		{Source: &pb.VolumeMount_Volume{Volume: name}, Path: "/data/c25"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if r := mustCollect(t, writer.Exec(ctx, &pb.ExecRequest{Shell: "echo persisted > /data/c25/note.txt"})); r.ExitCode != 0 {
		t.Fatalf("write: %+v", r)
	}
	if _, err := writer.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	reader, err := client.CreateSandbox(ctx, &pb.SandboxSpec{Language: "python", Mounts: []*pb.VolumeMount{
		{Source: &pb.VolumeMount_Volume{Volume: vol.GetId()}, Path: "/mnt/c25", ReadOnly: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = reader.Destroy(context.Background()) })
	eq(t, "read back", mustCollect(t, reader.Exec(ctx, &pb.ExecRequest{Argv: []string{"cat", "/mnt/c25/note.txt"}})).Stdout, "persisted\n")
	if r := mustCollect(t, reader.Exec(ctx, &pb.ExecRequest{Shell: "echo x > /mnt/c25/other.txt"})); r.ExitCode == 0 {
		t.Fatal("a read-only mount accepted a write")
	}
	list, err := client.ListVolumes(ctx)
	if err != nil || len(list) == 0 {
		t.Fatalf("list: %v %v", list, err)
	}
	if _, err := client.DeleteVolume(ctx, name); !errors.As(err, &e) || e.Code != codes.FailedPrecondition || e.Reason != "VOLUME_IN_USE" {
		t.Fatalf("delete while mounted: %v", err)
	}
	if _, err := reader.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if deleted, err := client.DeleteVolume(ctx, name); err != nil || !deleted {
		t.Fatalf("delete: %v %v", deleted, err)
	}
	if _, err := client.GetVolume(ctx, vol.GetId()); !errors.As(err, &e) || e.Code != codes.NotFound || e.Reason != "VOLUME_NOT_FOUND" {
		t.Fatalf("get after delete: %v", err)
	}
}

// readUntil reads the terminal into screen until it matches re.
func readUntil(t *testing.T, term *sandboxd.Terminal, screen *[]byte, re *regexp.Regexp) {
	t.Helper()
	buf := make([]byte, 32*1024)
	for !re.Match(*screen) {
		n, err := term.Read(buf)
		*screen = append(*screen, buf[:n]...)
		if err != nil {
			t.Fatalf("the terminal ended before %s: %v: %q", re, err, *screen)
		}
	}
}

func TestC26Terminal(t *testing.T) {
	ctx := testContext(t)
	sb := shared(t)
	term, err := sb.Terminal(ctx, sandboxd.TerminalOptions{Argv: []string{"/bin/sh"}, Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	var screen []byte
	if _, err := term.WriteString("tty; stty size\n"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, term, &screen, regexp.MustCompile(`/dev/pts/\d+`))
	readUntil(t, term, &screen, regexp.MustCompile(`(?m)^30 100\r?$`))
	if err := term.Resize(40, 120); err != nil {
		t.Fatal(err)
	}
	if _, err := term.WriteString("stty size; echo mark-$((6*7))\n"); err != nil {
		t.Fatal(err)
	}
	readUntil(t, term, &screen, regexp.MustCompile(`(?m)^40 120\r?$`))
	readUntil(t, term, &screen, regexp.MustCompile(`mark-42`))
	term.Detach()
	again, err := client.AttachTerminal(ctx, term.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	var replay []byte
	readUntil(t, again, &replay, regexp.MustCompile(`mark-42`))
	if _, err := again.WriteString("exit 3\n"); err != nil {
		t.Fatal(err)
	}
	exit, err := again.Wait()
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "status", exit.Status, pb.ExitStatus_EXIT_STATUS_EXITED)
	eq(t, "exit code", exit.ExitCode, 3)
}
