// Package sandboxd is a small client for the sandboxd daemon: sandboxes, runs streamed as
// iterators of events, typed errors. Every call takes a context; cancelling the context of
// a run cancels the run on the daemon. The generated stubs are in
// github.com/sandboxd/sandboxd/clients/go/gen/sandboxd/v1 for everything else.
package sandboxd

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/sandboxd/sandboxd/clients/go/gen/sandboxd/v1"
)

// DefaultAddress is used when neither an address nor SANDBOXD_ADDRESS is given.
const DefaultAddress = "127.0.0.1:50051"

// Client is a connection to sandboxd. It is safe for concurrent use.
type Client struct {
	conn        *grpc.ClientConn
	Sandboxes   pb.SandboxServiceClient
	Interactive pb.InteractiveServiceClient
	// Pools is PoolService: warm pools of the caller's tenant (docs/pools.md).
	Pools pb.PoolServiceClient
	// Volumes is VolumeService: named volumes of the caller's tenant (docs/volumes.md).
	Volumes pb.VolumeServiceClient
}

type options struct {
	token    string
	tls      *tls.Config
	dialOpts []grpc.DialOption
}

// Option configures New.
type Option func(*options)

// WithToken sends "authorization: Bearer <token>" on every call (default: SANDBOXD_TOKEN).
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithTLS connects over TLS.
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// WithDialOptions adds gRPC dial options.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOpts = append(o.dialOpts, opts...) }
}

type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// The daemon accepts tokens in plaintext on loopback and unix sockets only.
func (b bearer) RequireTransportSecurity() bool { return b.secure }

// New connects to the daemon at address ("" means SANDBOXD_ADDRESS, then DefaultAddress;
// "unix:/path" for a unix socket). The connection is made lazily.
func New(address string, opts ...Option) (*Client, error) {
	if address == "" {
		address = os.Getenv("SANDBOXD_ADDRESS")
	}
	if address == "" {
		address = DefaultAddress
	}
	o := options{token: os.Getenv("SANDBOXD_TOKEN")}
	for _, opt := range opts {
		opt(&o)
	}
	dial := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)),
		grpc.WithUserAgent("sandboxd-go/0.1"),
	}
	if o.tls != nil {
		dial = append(dial, grpc.WithTransportCredentials(credentials.NewTLS(o.tls)))
	} else {
		dial = append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if o.token != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(bearer{token: o.token, secure: o.tls != nil}))
	}
	conn, err := grpc.NewClient(address, append(dial, o.dialOpts...)...)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, Sandboxes: pb.NewSandboxServiceClient(conn), Interactive: pb.NewInteractiveServiceClient(conn), Pools: pb.NewPoolServiceClient(conn), Volumes: pb.NewVolumeServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// CreateSandbox creates a sandbox; call Destroy (or defer it) when done.
func (c *Client) CreateSandbox(ctx context.Context, spec *pb.SandboxSpec) (*Sandbox, error) {
	res, err := c.Sandboxes.CreateSandbox(ctx, &pb.CreateSandboxRequest{Spec: spec})
	if err != nil {
		return nil, wrapError(ctx, err)
	}
	return &Sandbox{c: c, Info: res.GetSandbox(), ID: res.GetSandbox().GetId()}, nil
}

// AcquireSandbox takes a sandbox from the warm pool poolID (its id or the tenant's name for
// it); spec may be nil or set only labels, ttl_ms and idle_timeout_ms. A member is handed
// out once: Destroy frees its place, it is never reused. An exhausted pool is a
// RESOURCE_EXHAUSTED error with reason POOL_EXHAUSTED.
func (c *Client) AcquireSandbox(ctx context.Context, poolID string, spec *pb.SandboxSpec) (*Sandbox, error) {
	res, err := c.Sandboxes.CreateSandbox(ctx, &pb.CreateSandboxRequest{PoolId: poolID, Spec: spec})
	if err != nil {
		return nil, wrapError(ctx, err)
	}
	return &Sandbox{c: c, Info: res.GetSandbox(), ID: res.GetSandbox().GetId()}, nil
}

// CreatePool creates a warm pool of the caller's tenant.
func (c *Client) CreatePool(ctx context.Context, req *pb.CreatePoolRequest) (*pb.Pool, error) {
	res, err := c.Pools.CreatePool(ctx, req)
	if err != nil {
		return nil, wrapError(ctx, err)
	}
	return res.GetPool(), nil
}

// GetPool returns a pool by id or name, with its settings and stats.
func (c *Client) GetPool(ctx context.Context, poolID string) (*pb.Pool, error) {
	res, err := c.Pools.GetPool(ctx, &pb.GetPoolRequest{PoolId: poolID})
	if err != nil {
		return nil, wrapError(ctx, err)
	}
	return res.GetPool(), nil
}

// DeletePool is idempotent (false when the pool was gone); destroySandboxes also destroys
// the sandboxes handed out from it.
func (c *Client) DeletePool(ctx context.Context, poolID string, destroySandboxes bool) (bool, error) {
	res, err := c.Pools.DeletePool(ctx, &pb.DeletePoolRequest{PoolId: poolID, DestroySandboxes: destroySandboxes})
	if err != nil {
		return false, wrapError(ctx, err)
	}
	return res.GetDeleted(), nil
}

// CreateVolume creates a named volume of the caller's tenant; mount it with
// SandboxSpec.Mounts. The size limit is recorded, not enforced on Docker and Podman.
func (c *Client) CreateVolume(ctx context.Context, name string, sizeLimitBytes uint64) (*pb.Volume, error) {
	res, err := c.Volumes.CreateVolume(ctx, &pb.CreateVolumeRequest{Name: name, SizeLimitBytes: sizeLimitBytes})
	if err != nil {
		return nil, wrapError(ctx, err)
	}
	return res.GetVolume(), nil
}

// GetVolume returns a volume by id or name, with the bytes it holds now.
func (c *Client) GetVolume(ctx context.Context, volume string) (*pb.Volume, error) {
	res, err := c.Volumes.GetVolume(ctx, &pb.GetVolumeRequest{Volume: volume})
	if err != nil {
		return nil, wrapError(ctx, err)
	}
	return res.GetVolume(), nil
}

// ListVolumes returns the caller's volumes.
func (c *Client) ListVolumes(ctx context.Context) ([]*pb.Volume, error) {
	res, err := c.Volumes.ListVolumes(ctx, &pb.ListVolumesRequest{})
	if err != nil {
		return nil, wrapError(ctx, err)
	}
	return res.GetVolumes(), nil
}

// DeleteVolume removes a volume and its data; false when it was gone. It fails with
// FAILED_PRECONDITION (reason VOLUME_IN_USE) while a live sandbox mounts it.
func (c *Client) DeleteVolume(ctx context.Context, volume string) (bool, error) {
	res, err := c.Volumes.DeleteVolume(ctx, &pb.DeleteVolumeRequest{Volume: volume})
	if err != nil {
		return false, wrapError(ctx, err)
	}
	return res.GetDeleted(), nil
}

// GetSandbox returns a handle on an existing sandbox.
func (c *Client) GetSandbox(ctx context.Context, id string) (*Sandbox, error) {
	res, err := c.Sandboxes.GetSandbox(ctx, &pb.GetSandboxRequest{SandboxId: id})
	if err != nil {
		return nil, wrapError(ctx, err)
	}
	return &Sandbox{c: c, Info: res.GetSandbox(), ID: id}, nil
}

// ListSandboxes lists the caller's sandboxes carrying all of labels.
func (c *Client) ListSandboxes(ctx context.Context, labels map[string]string) ([]*pb.Sandbox, error) {
	res, err := c.Sandboxes.ListSandboxes(ctx, &pb.ListSandboxesRequest{Labels: labels})
	if err != nil {
		return nil, wrapError(ctx, err)
	}
	return res.GetSandboxes(), nil
}

// DestroySandbox is idempotent: it reports false when the sandbox was already gone.
func (c *Client) DestroySandbox(ctx context.Context, id string) (bool, error) {
	res, err := c.Sandboxes.DestroySandbox(ctx, &pb.DestroySandboxRequest{SandboxId: id})
	if err != nil {
		return false, wrapError(ctx, err)
	}
	return res.GetDestroyed(), nil
}

// PauseSandbox freezes every process of the sandbox (Docker and Podman; on Kubernetes it
// fails FAILED_PRECONDITION with reason NOT_SUPPORTED_BY_BACKEND). It is idempotent:
// changed is false when the sandbox was paused already. A paused sandbox is never idle;
// its TTL keeps running.
func (c *Client) PauseSandbox(ctx context.Context, id string) (sandbox *pb.Sandbox, changed bool, err error) {
	res, err := c.Sandboxes.PauseSandbox(ctx, &pb.PauseSandboxRequest{SandboxId: id})
	if err != nil {
		return nil, false, wrapError(ctx, err)
	}
	return res.GetSandbox(), res.GetChanged(), nil
}

// ResumeSandbox thaws a paused sandbox. It is idempotent: changed is false when the
// sandbox was running already.
func (c *Client) ResumeSandbox(ctx context.Context, id string) (sandbox *pb.Sandbox, changed bool, err error) {
	res, err := c.Sandboxes.ResumeSandbox(ctx, &pb.ResumeSandboxRequest{SandboxId: id})
	if err != nil {
		return nil, false, wrapError(ctx, err)
	}
	return res.GetSandbox(), res.GetChanged(), nil
}

// RunEphemeral runs code in a throwaway sandbox of the request's language.
func (c *Client) RunEphemeral(ctx context.Context, req *pb.RunRequest) Events {
	return streamEvents(ctx, func(ctx context.Context) (eventStream, error) {
		return events[pb.RunResponse](c.Sandboxes.Run(ctx, req))
	})
}

// Attach follows a run again from a byte offset: what was missed, then live.
func (c *Client) Attach(ctx context.Context, runID string, offset uint64) Events {
	return streamEvents(ctx, func(ctx context.Context) (eventStream, error) {
		return events[pb.AttachResponse](c.Sandboxes.Attach(ctx, &pb.AttachRequest{RunId: runID, Offset: offset}))
	})
}

// Signal sends a signal (SIGINT, SIGTERM, SIGKILL, ...) to a run's process group.
func (c *Client) Signal(ctx context.Context, runID, signal string) error {
	_, err := c.Sandboxes.Signal(ctx, &pb.SignalRequest{RunId: runID, Signal: signal})
	return wrapError(ctx, err)
}

// WriteInput writes to a run's stdin, and closes it when close is set.
func (c *Client) WriteInput(ctx context.Context, runID string, data []byte, close bool) error {
	_, err := c.Sandboxes.WriteInput(ctx, &pb.WriteInputRequest{RunId: runID, Data: data, Close: close})
	return wrapError(ctx, err)
}

// BuildImage builds a Dockerfile (its content and build-context files) into an image that
// sandboxes start from (SandboxSpec.Image), passing each piece of the build's output to
// onOutput (which may be nil) as it comes. A failing build returns an *Error with code
// InvalidArgument and reason IMAGE_BUILD_FAILED after its output; cancelling ctx stops the
// build unless another caller waits for the same one. Builds have no network unless the
// daemon runs with --network.build default.
func (c *Client) BuildImage(ctx context.Context, dockerfile *pb.Dockerfile, onOutput func(string)) (*pb.BuildImageResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Sandboxes.BuildImage(ctx, &pb.BuildImageRequest{Dockerfile: dockerfile})
	if err != nil {
		return nil, wrapError(ctx, err)
	}
	for {
		res, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, &Error{Code: codes.Internal, Reason: "INTERNAL", Message: "the build ended without a result"}
			}
			return nil, wrapError(ctx, err)
		}
		switch ev := res.GetEvent().(type) {
		case *pb.BuildImageResponse_Output:
			if onOutput != nil {
				onOutput(ev.Output)
			}
		case *pb.BuildImageResponse_Result:
			return ev.Result, nil
		}
	}
}
