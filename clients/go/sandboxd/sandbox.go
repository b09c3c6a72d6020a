package sandboxd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"strings"
	"time"

	"google.golang.org/grpc"

	pb "github.com/sandboxd/sandboxd/clients/go/gen/sandboxd/v1"
)

// Events is a run's events in order, as they happen. Stopping the loop early cancels the
// call (and the run, unless it was started detached). A failed call yields one error last.
type Events = iter.Seq2[*pb.RunEvent, error]

type eventStream interface{ recv() (*pb.RunEvent, error) }

type grpcEvents[R any, PR interface {
	*R
	GetEvent() *pb.RunEvent
}] struct{ s grpc.ServerStreamingClient[R] }

func (g grpcEvents[R, PR]) recv() (*pb.RunEvent, error) {
	m, err := g.s.Recv()
	if err != nil {
		return nil, err
	}
	return PR(m).GetEvent(), nil
}

func events[R any, PR interface {
	*R
	GetEvent() *pb.RunEvent
}](s grpc.ServerStreamingClient[R], err error) (eventStream, error) {
	if err != nil {
		return nil, err
	}
	return grpcEvents[R, PR]{s}, nil
}

func streamEvents(ctx context.Context, open func(context.Context) (eventStream, error)) Events {
	return func(yield func(*pb.RunEvent, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s, err := open(ctx)
		if err != nil {
			yield(nil, wrapError(ctx, err))
			return
		}
		for {
			ev, err := s.recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield(nil, wrapError(ctx, err))
				return
			}
			if _, ok := ev.GetEvent().(*pb.RunEvent_Keepalive); ok {
				continue
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// Result is what a finished run left.
type Result struct {
	RunID     string
	Stdout    string
	Stderr    string
	Status    pb.ExitStatus
	ExitCode  int
	Signal    int
	Duration  time.Duration
	Truncated bool
	Phase     pb.RunPhase
	Message   string
	// The run's own peak memory (largest resident set of its processes, as reaped) and CPU
	// time (user + system); zero where they were not measured (RunExited.usage_measured).
	PeakMemoryBytes uint64
	CPUTime         time.Duration
	Artifacts       []*pb.Artifact
	CellErrors      []*pb.CellError
	Events          []*pb.RunEvent
}

// OK reports whether the process exited by itself with code 0 (and raised nothing).
func (r *Result) OK() bool {
	return r.Status == pb.ExitStatus_EXIT_STATUS_EXITED && r.ExitCode == 0 && len(r.CellErrors) == 0
}

// Collect drains events into a Result. A run that ended (any status) is not an error;
// a failed call is.
func Collect(evs Events) (*Result, error) {
	var c collector
	for ev, err := range evs {
		if err != nil {
			return c.partial(), err
		}
		c.feed(ev)
	}
	return c.result()
}

// collector folds a run's events into a Result, one event at a time.
type collector struct {
	r           Result
	out, errOut strings.Builder
	exited      bool
}

func (c *collector) feed(ev *pb.RunEvent) {
	r := &c.r
	r.Events = append(r.Events, ev)
	switch e := ev.GetEvent().(type) {
	case *pb.RunEvent_Started:
		if r.RunID == "" {
			r.RunID = e.Started.GetRunId()
		}
	case *pb.RunEvent_Output:
		if e.Output.GetPhase() == pb.RunPhase_RUN_PHASE_INSTALL {
			return
		}
		if e.Output.GetStream() == pb.Stream_STREAM_STDERR {
			c.errOut.Write(e.Output.GetData())
		} else {
			c.out.Write(e.Output.GetData())
		}
	case *pb.RunEvent_Artifact:
		r.Artifacts = append(r.Artifacts, e.Artifact)
	case *pb.RunEvent_Error:
		r.CellErrors = append(r.CellErrors, e.Error)
	case *pb.RunEvent_Exited:
		c.exited = true
		x := e.Exited
		r.Status, r.ExitCode, r.Signal = x.GetStatus(), int(x.GetExitCode()), int(x.GetSignal())
		r.Duration = time.Duration(x.GetDurationMs()) * time.Millisecond
		r.Truncated, r.Phase, r.Message = x.GetTruncated(), x.GetPhase(), x.GetMessage()
		r.PeakMemoryBytes, r.CPUTime = x.GetPeakMemoryBytes(), time.Duration(x.GetCpuTimeMs())*time.Millisecond
	}
}

// partial is what the events so far left (Stdout and Stderr not filled in, as Collect did).
func (c *collector) partial() *Result { return &c.r }

func (c *collector) result() (*Result, error) {
	r := c.r
	r.Stdout, r.Stderr = c.out.String(), c.errOut.String()
	if !c.exited {
		return &r, errors.New("sandboxd: the run's stream ended without an exit event")
	}
	return &r, nil
}

// Sandbox is a handle on a sandbox of the daemon.
type Sandbox struct {
	c    *Client
	ID   string
	Info *pb.Sandbox
}

// RunOption adjusts a RunRequest.
type RunOption func(*pb.RunRequest)

// WithRunTimeout sets the run's deadline on the daemon (the process tree is killed then).
func WithRunTimeout(d time.Duration) RunOption {
	return func(r *pb.RunRequest) { r.TimeoutMs = uint32(d.Milliseconds()) }
}

// WithStdin gives the program these bytes on stdin.
func WithStdin(b []byte) RunOption { return func(r *pb.RunRequest) { r.Stdin = b } }

// WithEnv adds environment variables.
func WithEnv(env map[string]string) RunOption { return func(r *pb.RunRequest) { r.Env = env } }

// WithLibraries installs libraries before running.
func WithLibraries(libs ...string) RunOption { return func(r *pb.RunRequest) { r.Libraries = libs } }

// WithArgs passes program arguments.
func WithArgs(args ...string) RunOption { return func(r *pb.RunRequest) { r.Args = args } }

// Run runs code in the sandbox's language and streams its events.
func (s *Sandbox) Run(ctx context.Context, code string, opts ...RunOption) Events {
	req := &pb.RunRequest{SandboxId: s.ID, Code: code}
	for _, o := range opts {
		o(req)
	}
	return s.RunRequest(ctx, req)
}

// RunRequest sends a RunRequest as given (its SandboxId is set to this sandbox).
func (s *Sandbox) RunRequest(ctx context.Context, req *pb.RunRequest) Events {
	req.SandboxId = s.ID
	return streamEvents(ctx, func(ctx context.Context) (eventStream, error) {
		return events[pb.RunResponse](s.c.Sandboxes.Run(ctx, req))
	})
}

// Exec runs an ExecRequest (Argv, or a Shell line for /bin/sh -c) and streams its events.
func (s *Sandbox) Exec(ctx context.Context, req *pb.ExecRequest) Events {
	req.SandboxId = s.ID
	return streamEvents(ctx, func(ctx context.Context) (eventStream, error) {
		return events[pb.ExecResponse](s.c.Sandboxes.Exec(ctx, req))
	})
}

// Command runs argv and collects it.
func (s *Sandbox) Command(ctx context.Context, argv ...string) (*Result, error) {
	return Collect(s.Exec(ctx, &pb.ExecRequest{Argv: argv}))
}

// Shell runs a line with /bin/sh -c and collects it.
func (s *Sandbox) Shell(ctx context.Context, line string) (*Result, error) {
	return Collect(s.Exec(ctx, &pb.ExecRequest{Shell: line}))
}

// Install installs libraries with the language's package manager.
func (s *Sandbox) Install(ctx context.Context, libraries ...string) Events {
	return streamEvents(ctx, func(ctx context.Context) (eventStream, error) {
		return events[pb.InstallResponse](s.c.Sandboxes.Install(ctx, &pb.InstallRequest{SandboxId: s.ID, Libraries: libraries}))
	})
}

// Destroy destroys the sandbox; it reports false when it was already gone.
func (s *Sandbox) Destroy(ctx context.Context) (bool, error) {
	return s.c.DestroySandbox(ctx, s.ID)
}

// Pause freezes the sandbox's processes (Client.PauseSandbox); true when it was running.
func (s *Sandbox) Pause(ctx context.Context) (bool, error) {
	_, changed, err := s.c.PauseSandbox(ctx, s.ID)
	return changed, err
}

// Resume thaws the sandbox (Client.ResumeSandbox); true when it was paused.
func (s *Sandbox) Resume(ctx context.Context) (bool, error) {
	_, changed, err := s.c.ResumeSandbox(ctx, s.ID)
	return changed, err
}

const chunkSize = 256 << 10

// Upload writes data to path in the sandbox (a FILE), or unpacks it there (a TAR).
func (s *Sandbox) Upload(ctx context.Context, path string, data []byte, kind pb.TransferKind, mode uint32) error {
	stream, err := s.c.Sandboxes.UploadFiles(ctx)
	if err != nil {
		return wrapError(ctx, err)
	}
	header := &pb.UploadFilesRequest{Message: &pb.UploadFilesRequest_Header{Header: &pb.UploadHeader{SandboxId: s.ID, Path: path, Kind: kind, Mode: mode}}}
	if err := stream.Send(header); err != nil {
		_, err = stream.CloseAndRecv()
		return wrapError(ctx, err)
	}
	for at := 0; at < len(data); at += chunkSize {
		end := min(at+chunkSize, len(data))
		if err := stream.Send(&pb.UploadFilesRequest{Message: &pb.UploadFilesRequest_Chunk{Chunk: data[at:end]}}); err != nil {
			_, err = stream.CloseAndRecv()
			return wrapError(ctx, err)
		}
	}
	res, err := stream.CloseAndRecv()
	if err != nil {
		return wrapError(ctx, err)
	}
	sum := sha256.Sum256(data)
	if res.GetSha256() != "" && res.GetSha256() != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("sandboxd: upload to %s was corrupted in transit", path)
	}
	return nil
}

// Download reads a file, or a directory as a tar (the header's Kind says which).
func (s *Sandbox) Download(ctx context.Context, path string) ([]byte, *pb.DownloadHeader, error) {
	stream, err := s.c.Sandboxes.DownloadFiles(ctx, &pb.DownloadFilesRequest{SandboxId: s.ID, Path: path})
	if err != nil {
		return nil, nil, wrapError(ctx, err)
	}
	var header *pb.DownloadHeader
	var data []byte
	h := sha256.New()
	want := ""
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, wrapError(ctx, err)
		}
		switch x := m.GetMessage().(type) {
		case *pb.DownloadFilesResponse_Header:
			header = x.Header
		case *pb.DownloadFilesResponse_Chunk:
			data = append(data, x.Chunk...)
			h.Write(x.Chunk)
		case *pb.DownloadFilesResponse_Trailer:
			want = x.Trailer.GetSha256()
		}
	}
	if want != "" && want != hex.EncodeToString(h.Sum(nil)) {
		return nil, nil, fmt.Errorf("sandboxd: download of %s was corrupted in transit", path)
	}
	return data, header, nil
}

// Session is a persistent shell or IPython kernel in a sandbox.
type Session struct {
	c  *Client
	ID string
}

// NewSession opens a session (kind SESSION_KIND_SHELL or SESSION_KIND_IPYTHON).
func (s *Sandbox) NewSession(ctx context.Context, kind pb.SessionKind, shell string, env map[string]string) (*Session, error) {
	res, err := s.c.Interactive.CreateSession(ctx, &pb.CreateSessionRequest{Target: &pb.CreateSessionRequest_SandboxId{SandboxId: s.ID}, Kind: kind, Shell: shell, Env: env})
	if err != nil {
		return nil, wrapError(ctx, err)
	}
	return &Session{c: s.c, ID: res.GetSession().GetId()}, nil
}

// Run runs one cell (or command line) in the session.
func (s *Session) Run(ctx context.Context, code string) Events {
	return streamEvents(ctx, func(ctx context.Context) (eventStream, error) {
		return events[pb.InteractiveServiceRunResponse](s.c.Interactive.Run(ctx, &pb.InteractiveServiceRunRequest{SessionId: s.ID, Code: code}))
	})
}

// Close ends the session and its processes.
func (s *Session) Close(ctx context.Context) error {
	_, err := s.c.Interactive.CloseSession(ctx, &pb.CloseSessionRequest{SessionId: s.ID})
	return wrapError(ctx, err)
}
