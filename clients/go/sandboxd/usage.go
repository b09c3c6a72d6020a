package sandboxd

import (
	"context"
	"errors"
	"io"
	"iter"
	"time"

	"google.golang.org/grpc/codes"

	pb "github.com/sandboxd/sandboxd/clients/go/gen/sandboxd/v1"
)

// Usage is the sandbox's usage now: memory (current, peak, limit), CPU time, processes and
// the used bytes of its writable paths, read by its agent from inside the sandbox. Available
// is false (UnavailableReason says why) where it cannot be measured.
func (s *Sandbox) Usage(ctx context.Context) (*pb.SandboxUsage, error) {
	res, err := s.c.Sandboxes.GetSandbox(ctx, &pb.GetSandboxRequest{SandboxId: s.ID})
	if err != nil {
		return nil, wrapError(ctx, err)
	}
	return res.GetSandbox().GetUsage(), nil
}

// Watch streams the sandbox's usage every interval (at least 100 ms; 0 means 1 s), the first
// sample at once. The sequence ends when the sandbox goes away (destroyed or reaped);
// stopping the loop early cancels the call. A failed call yields one error last.
func (s *Sandbox) Watch(ctx context.Context, interval time.Duration) iter.Seq2[*pb.SandboxUsage, error] {
	return func(yield func(*pb.SandboxUsage, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := s.c.Sandboxes.WatchSandbox(ctx, &pb.WatchSandboxRequest{SandboxId: s.ID, IntervalMs: uint32(interval.Milliseconds())})
		if err != nil {
			yield(nil, wrapError(ctx, err))
			return
		}
		for {
			m, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, wrapError(ctx, err))
				return
			}
			if !yield(m.GetUsage(), nil) {
				return
			}
		}
	}
}

// WatchFiles watches path (absolute, or relative to the workdir; "" is the workdir), and
// with recursive every directory below it, and returns once the watch is in place: changes
// from then on come in the sequence (create, write, remove, rename with OldPath, and
// overflow when events were lost), paths absolute. The sequence ends when the sandbox goes
// away; stopping the loop early, or cancelling ctx, ends the watch. A missing path is an
// *Error with code NotFound (reason FILE_WATCH_PATH_NOT_FOUND). Range over the sequence,
// or cancel ctx, to release the call.
func (s *Sandbox) WatchFiles(ctx context.Context, path string, recursive bool) (iter.Seq2[*pb.FileEvent, error], error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := s.c.Sandboxes.WatchFiles(ctx, &pb.WatchFilesRequest{SandboxId: s.ID, Path: path, Recursive: recursive})
	if err != nil {
		cancel()
		return nil, wrapError(ctx, err)
	}
	first, err := stream.Recv()
	if err != nil {
		cancel()
		return nil, wrapError(ctx, err)
	}
	if !first.GetReady() {
		cancel()
		return nil, &Error{Code: codes.Internal, Reason: "INTERNAL", Message: "WatchFiles did not start with ready"}
	}
	return func(yield func(*pb.FileEvent, error) bool) {
		defer cancel()
		for {
			m, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, wrapError(ctx, err))
				return
			}
			if ev := m.GetEvent(); ev != nil && !yield(ev, nil) {
				return
			}
		}
	}, nil
}
