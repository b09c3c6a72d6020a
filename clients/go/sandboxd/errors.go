package sandboxd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/sandboxd/sandboxd/clients/go/gen/sandboxd/v1"
)

// Error is every failure the daemon reports: the gRPC code, the daemon's machine-readable
// reason (LANGUAGE_NOT_SUPPORTED, SANDBOX_NOT_FOUND, POLICY_VIOLATION, ...) with its
// metadata, and for policy refusals the violations. Use errors.As, or IsReason.
type Error struct {
	Code       codes.Code
	Reason     string
	Message    string
	Metadata   map[string]string
	Violations []*pb.Violation
	cause      error
	// The caller's context error (DeadlineExceeded, Canceled) when that context had ended
	// by the time the call failed: errors.Is(err, context.DeadlineExceeded) then holds.
	ctxErr error
}

func (e *Error) Error() string {
	if e.Reason != "" && e.Reason != e.Code.String() {
		return fmt.Sprintf("sandboxd: %s (%s): %s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("sandboxd: %s: %s", e.Code, e.Message)
}

// Unwrap gives the original gRPC status error and, when the caller's context had ended
// (its deadline passed or it was cancelled), that context's error too.
func (e *Error) Unwrap() []error {
	if e.ctxErr != nil {
		return []error{e.cause, e.ctxErr}
	}
	return []error{e.cause}
}

// GRPCStatus lets status.FromError and status.Code see through an *Error.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// RequestID is the daemon's id for the call, to find it in the daemon's log.
func (e *Error) RequestID() string { return e.Metadata["request_id"] }

// wrapError turns a gRPC error into *Error, reading the ErrorDetail in its status details;
// ctx is the call's context, whose error the result wraps when it had ended.
// deadlineSlack: a DEADLINE_EXCEEDED this close to the context's deadline is the context's.
const deadlineSlack = 50 * time.Millisecond

func wrapError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	e := &Error{Code: st.Code(), Message: st.Message(), Metadata: map[string]string{}, cause: err}
	if ctxErr := ctx.Err(); ctxErr != nil && (st.Code() == codes.DeadlineExceeded || st.Code() == codes.Canceled) {
		e.ctxErr = ctxErr
	} else if dl, ok := ctx.Deadline(); ok && st.Code() == codes.DeadlineExceeded && time.Until(dl) < deadlineSlack {
		// The daemon enforces the deadline the call carried (grpc-timeout, in whole units) and
		// may end the call a moment before this side's timer has marked the context done.
		e.ctxErr = context.DeadlineExceeded
	}
	for _, d := range st.Details() {
		if detail, ok := d.(*pb.ErrorDetail); ok {
			if e.Reason == "" {
				e.Reason = detail.GetReason()
			}
			for k, v := range detail.GetMetadata() {
				e.Metadata[k] = v
			}
			e.Violations = append(e.Violations, detail.GetViolations()...)
		}
	}
	if e.Reason == "" {
		e.Reason = e.Code.String()
	}
	return e
}

// IsReason reports whether err is a daemon error with this reason.
func IsReason(err error, reason string) bool {
	var e *Error
	return errors.As(err, &e) && e.Reason == reason
}

// CodeOf is the gRPC code of err (codes.OK for nil, codes.Unknown for foreign errors).
func CodeOf(err error) codes.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return status.Code(err)
}
