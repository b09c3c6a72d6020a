package sandboxd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sandboxd/sandboxd/clients/go/sandboxd"
)

// A call that fails because the caller's context ended wraps that context's error, so
// errors.Is(err, context.DeadlineExceeded) (or context.Canceled) holds, as with any Go API;
// the *Error with the gRPC code is still there for errors.As.
func TestContextErrorsAreWrapped(t *testing.T) {
	ctx := testContext(t)
	sb := shared(t)

	runCtx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	var runErr error
	for _, err := range sb.Run(runCtx, "import time\nprint('waiting', flush=True)\ntime.sleep(60)", sandboxd.WithRunTimeout(2*time.Minute)) {
		if err != nil {
			runErr = err
			break
		}
	}
	if !errors.Is(runErr, context.DeadlineExceeded) {
		t.Fatalf("a run past its context's deadline: got %v, want an error that is context.DeadlineExceeded", runErr)
	}
	var daemonErr *sandboxd.Error
	if !errors.As(runErr, &daemonErr) || daemonErr.Code != codes.DeadlineExceeded {
		t.Fatalf("errors.As(*sandboxd.Error): got %#v", runErr)
	}

	cancelled, stop := context.WithCancel(ctx)
	stop()
	_, err := client.GetSandbox(cancelled, sb.Info.GetId())
	if !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a call on a cancelled context: got %v, want context.Canceled only", err)
	}

	// A daemon error while the context is alive wraps no context error.
	_, err = client.GetSandbox(ctx, "sbx_does_not_exist")
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || sandboxd.CodeOf(err) != codes.NotFound {
		t.Fatalf("an unknown sandbox: got %v, want NOT_FOUND and no context error", err)
	}
	eq(t, "sandbox still usable", mustCollect(t, sb.Run(ctx, "print('ok')")).Stdout, "ok\n")
}
