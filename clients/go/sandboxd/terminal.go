package sandboxd

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/sandboxd/sandboxd/clients/go/gen/sandboxd/v1"
)

// terminalInputChunk is the daemon's limit of input bytes per message: longer writes are split.
const terminalInputChunk = 64 * 1024

// TerminalOptions shape a new terminal. Zero values are the daemon's defaults (the image's
// shell, 24x80, a 60 s grace period).
type TerminalOptions struct {
	Argv       []string
	Rows, Cols uint32
	Env        map[string]string
	Cwd        string
	// Grace is how long the terminal waits for a client to attach again after this one went.
	Grace time.Duration
}

// TerminalExit is how a terminal's program ended.
type TerminalExit struct {
	Status   pb.ExitStatus
	ExitCode int32
	Signal   int32
	Message  string
}

// Terminal is a pseudo-terminal in a sandbox (made by the sandbox's agent) with a program
// on it: Write keystrokes, Read what it draws (Terminal is an io.Reader), Resize, Signal its
// foreground job, Wait for its exit. Detach leaves it running for its grace period and
// Client.AttachTerminal gets it back with its recent output replayed; Close ends it.
type Terminal struct {
	ID        string
	SandboxID string
	PID       uint32

	ctx    context.Context
	stream pb.TerminalService_TerminalClient
	cancel context.CancelFunc

	mu      sync.Mutex
	wake    *sync.Cond
	pending [][]byte
	offset  uint64
	exit    *TerminalExit
	err     error
	ended   bool
	sendMu  sync.Mutex
}

// OpenTerminal opens a terminal in the sandbox and returns once it runs.
func (c *Client) OpenTerminal(ctx context.Context, sandboxID string, o TerminalOptions) (*Terminal, error) {
	open := &pb.TerminalOpen{
		SandboxId: sandboxID,
		Argv:      o.Argv,
		Size:      &pb.TerminalSize{Rows: o.Rows, Cols: o.Cols},
		Env:       o.Env,
		Cwd:       o.Cwd,
		GraceMs:   uint32(o.Grace / time.Millisecond),
	}
	return c.startTerminal(ctx, &pb.TerminalRequest{Message: &pb.TerminalRequest_Open{Open: open}})
}

// AttachTerminal attaches to a running terminal: the output it kept from offset (0: all of
// it) comes first, then live output.
func (c *Client) AttachTerminal(ctx context.Context, terminalID string, offset uint64) (*Terminal, error) {
	return c.startTerminal(ctx, &pb.TerminalRequest{Message: &pb.TerminalRequest_Attach{Attach: &pb.TerminalAttach{TerminalId: terminalID, Offset: offset}}})
}

// Terminal opens a terminal in this sandbox (see Client.OpenTerminal).
func (s *Sandbox) Terminal(ctx context.Context, o TerminalOptions) (*Terminal, error) {
	return s.c.OpenTerminal(ctx, s.ID, o)
}

func (c *Client) startTerminal(ctx context.Context, first *pb.TerminalRequest) (*Terminal, error) {
	callCtx, cancel := context.WithCancel(ctx)
	stream, err := pb.NewTerminalServiceClient(c.conn).Terminal(callCtx)
	if err != nil {
		cancel()
		return nil, wrapError(ctx, err)
	}
	if err := stream.Send(first); err != nil {
		cancel()
		_, rerr := stream.Recv()
		return nil, wrapError(ctx, errors.Join(rerr, err))
	}
	res, err := stream.Recv()
	if err != nil {
		cancel()
		return nil, wrapError(ctx, err)
	}
	opened := res.GetOpened()
	if opened == nil {
		cancel()
		return nil, wrapError(ctx, status.Error(codes.Internal, "the terminal stream did not start with opened"))
	}
	t := &Terminal{ID: opened.TerminalId, SandboxID: opened.SandboxId, PID: opened.Pid, ctx: ctx, stream: stream, cancel: cancel, offset: opened.Offset}
	t.wake = sync.NewCond(&t.mu)
	go t.pump()
	return t, nil
}

func (t *Terminal) pump() {
	for {
		res, err := t.stream.Recv()
		t.mu.Lock()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.err = wrapError(t.ctx, err)
			}
			t.ended = true
			t.wake.Broadcast()
			t.mu.Unlock()
			return
		}
		if out := res.GetOutput(); out != nil {
			t.pending = append(t.pending, out.Data)
			t.offset = out.Offset + uint64(len(out.Data))
		} else if e := res.GetExit(); e != nil {
			t.exit = &TerminalExit{Status: e.Status, ExitCode: e.ExitCode, Signal: e.Signal, Message: e.Message}
		}
		t.wake.Broadcast()
		t.mu.Unlock()
	}
}

func (t *Terminal) send(req *pb.TerminalRequest) error {
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	if err := t.stream.Send(req); err != nil {
		return wrapError(t.ctx, err)
	}
	return nil
}

// Write sends bytes to the terminal's input, as typed.
func (t *Terminal) Write(p []byte) (int, error) {
	for at := 0; at < len(p); at += terminalInputChunk {
		end := min(at+terminalInputChunk, len(p))
		if err := t.send(&pb.TerminalRequest{Message: &pb.TerminalRequest_Input{Input: p[at:end]}}); err != nil {
			return at, err
		}
	}
	return len(p), nil
}

// WriteString sends text to the terminal's input.
func (t *Terminal) WriteString(s string) (int, error) { return t.Write([]byte(s)) }

// Resize sets the window's size; the program gets SIGWINCH.
func (t *Terminal) Resize(rows, cols uint32) error {
	return t.send(&pb.TerminalRequest{Message: &pb.TerminalRequest_Resize{Resize: &pb.TerminalSize{Rows: rows, Cols: cols}}})
}

// Signal sends a signal (SIGINT, SIGTERM, ...) to the terminal's foreground job.
func (t *Terminal) Signal(name string) error {
	return t.send(&pb.TerminalRequest{Message: &pb.TerminalRequest_Signal{Signal: strings.ToUpper(name)}})
}

// Close ends the terminal (its processes are killed); Wait then gives the exit.
func (t *Terminal) Close() error {
	return t.send(&pb.TerminalRequest{Message: &pb.TerminalRequest_Close{Close: &pb.TerminalClose{}}})
}

// Detach ends this stream and leaves the terminal running for its grace period.
func (t *Terminal) Detach() { t.cancel() }

// Offset is the offset just past the output received: attach with it to skip what you have.
func (t *Terminal) Offset() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.offset
}

// Read reads output; io.EOF once the program ended and everything was read.
func (t *Terminal) Read(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.pending) == 0 {
		if t.ended {
			if t.err != nil && t.exit == nil {
				return 0, t.err
			}
			return 0, io.EOF
		}
		t.wake.Wait()
	}
	n := copy(p, t.pending[0])
	if n == len(t.pending[0]) {
		t.pending = t.pending[1:]
	} else {
		t.pending[0] = t.pending[0][n:]
	}
	return n, nil
}

// Wait waits for the program's exit (output not yet read stays for Read).
func (t *Terminal) Wait() (*TerminalExit, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for !t.ended && t.exit == nil {
		t.wake.Wait()
	}
	if t.exit != nil {
		return t.exit, nil
	}
	if t.err != nil {
		return nil, t.err
	}
	return nil, wrapError(t.ctx, status.Error(codes.Unavailable, "the terminal stream ended without an exit"))
}
