package sandboxd

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/sandboxd/sandboxd/clients/go/gen/sandboxd/v1"
)

// CellEvent is an event of an Execute stream, tagged with the id of the cell it belongs to.
type CellEvent struct {
	CellID string
	Event  *pb.RunEvent
}

// CellOption adjusts a cell sent on an Execute stream.
type CellOption func(*pb.Cell)

// WithCellID sets the cell's id, echoed on every event of the cell (default cell-1,
// cell-2, ... in the order sent).
func WithCellID(id string) CellOption { return func(c *pb.Cell) { c.CellId = id } }

// WithCellTimeout overrides the session's cell timeout for this cell.
func WithCellTimeout(d time.Duration) CellOption {
	return func(c *pb.Cell) { c.TimeoutMs = uint32(d.Milliseconds()) }
}

// WithCellStdin gives a SHELL session's command these bytes on stdin (EOF after them).
func WithCellStdin(b []byte) CellOption { return func(c *pb.Cell) { c.Stdin = b } }

// ExecuteOption configures Session.Execute.
type ExecuteOption func(*ExecuteStream)

// WithCloseGrace is how long Close (and the end of Execute's context) waits for the
// interrupted cells to end before it cancels the call. Default 10s.
func WithCloseGrace(d time.Duration) ExecuteOption { return func(x *ExecuteStream) { x.grace = d } }

type execCell struct {
	c      collector
	done   chan struct{}
	result *Result
	err    error
}

// ExecuteStream is an interactive Execute call on a session: cells go in (Send), their
// events come out in the order the cells were sent, each tagged with its cell id (Recv,
// keepalives left out), and each cell's Result is kept (Result). The stream reads the
// daemon's responses whether or not Recv is called.
//
// Send, Interrupt, CloseSend, Recv and Result may be called from different goroutines.
// The daemon keeps running a cell when its client goes away, so Close (and the end of the
// context given to Execute) first interrupts every cell that has not ended, then cancels
// the call. Always Close the stream.
type ExecuteStream struct {
	SessionID string

	ctx    context.Context // the caller's
	cancel context.CancelFunc
	stream grpc.BidiStreamingClient[pb.ExecuteRequest, pb.ExecuteResponse]
	grace  time.Duration

	sendMu     sync.Mutex // one Send, Interrupt or CloseSend at a time
	halfClosed bool       // under sendMu

	mu       sync.Mutex
	wake     *sync.Cond
	cells    map[string]*execCell
	order    []string
	next     int
	queue    []CellEvent
	finished bool
	failure  error

	done      chan struct{}
	closeOnce sync.Once
}

// Execute opens an Execute stream on the session. Cancelling ctx (or its deadline)
// interrupts the unfinished cells and ends the stream with ctx's error, which
// errors.Is(err, context.DeadlineExceeded) / context.Canceled then sees.
func (s *Session) Execute(ctx context.Context, opts ...ExecuteOption) (*ExecuteStream, error) {
	x := &ExecuteStream{SessionID: s.ID, ctx: ctx, grace: 10 * time.Second, cells: map[string]*execCell{}, next: 1, done: make(chan struct{})}
	x.wake = sync.NewCond(&x.mu)
	for _, o := range opts {
		o(x)
	}
	if err := ctx.Err(); err != nil {
		return nil, wrapError(ctx, status.FromContextError(err).Err())
	}
	// The call outlives ctx so that the cells can still be interrupted when ctx ends.
	callCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stream, err := s.c.Interactive.Execute(callCtx)
	if err != nil {
		cancel()
		return nil, wrapError(ctx, err)
	}
	x.cancel, x.stream = cancel, stream
	go x.pump()
	go func() {
		select {
		case <-ctx.Done():
			x.fail(wrapError(ctx, status.FromContextError(ctx.Err()).Err()))
			_ = x.Close()
		case <-x.done:
		}
	}()
	return x, nil
}

func streamClosed(msg string) error {
	return &Error{Code: codes.FailedPrecondition, Reason: "STREAM_CLOSED", Message: msg, Metadata: map[string]string{}}
}

// Send queues a cell and returns its id. Cells run one at a time in the order sent. It
// fails once the stream is half-closed (CloseSend) or over.
func (x *ExecuteStream) Send(code string, opts ...CellOption) (string, error) {
	cell := &pb.Cell{Code: code}
	for _, o := range opts {
		o(cell)
	}
	x.sendMu.Lock()
	defer x.sendMu.Unlock()
	x.mu.Lock()
	if x.halfClosed || x.finished {
		x.mu.Unlock()
		return "", streamClosed("the Execute stream takes no more cells")
	}
	if cell.CellId == "" {
		for cell.CellId == "" || x.cells[cell.CellId] != nil {
			cell.CellId = fmt.Sprintf("cell-%d", x.next)
			x.next++
		}
	} else if x.cells[cell.CellId] != nil {
		x.mu.Unlock()
		return "", &Error{Code: codes.InvalidArgument, Reason: "DUPLICATE_CELL_ID", Message: fmt.Sprintf("cell id %s was already sent on this stream", cell.CellId), Metadata: map[string]string{}}
	}
	x.cells[cell.CellId] = &execCell{done: make(chan struct{})}
	x.order = append(x.order, cell.CellId)
	x.mu.Unlock()
	if err := x.stream.Send(&pb.ExecuteRequest{SessionId: x.SessionID, Message: &pb.ExecuteRequest_Cell{Cell: cell}}); err != nil {
		return cell.CellId, x.sendError(err)
	}
	return cell.CellId, nil
}

// sendError: a Send that fails with io.EOF means the call is over; its status comes from
// the receiving side.
func (x *ExecuteStream) sendError(err error) error {
	if err != io.EOF {
		return wrapError(x.ctx, err)
	}
	<-x.done
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.failure != nil {
		return x.failure
	}
	return streamClosed("the Execute stream has ended")
}

// Interrupt interrupts a cell: a queued one is dropped (it ends CANCELLED without running),
// the running one is stopped; "" means whatever cell is running. The outcome arrives as the
// cell's exited event. It does nothing once the stream is over, and fails after CloseSend.
func (x *ExecuteStream) Interrupt(cellID string) error {
	x.sendMu.Lock()
	defer x.sendMu.Unlock()
	return x.interruptLocked(cellID)
}

func (x *ExecuteStream) interruptLocked(cellID string) error {
	x.mu.Lock()
	finished := x.finished
	x.mu.Unlock()
	if finished {
		return nil
	}
	if x.halfClosed {
		return streamClosed("the Execute stream is half-closed (CloseSend): interrupt before closing it")
	}
	err := x.stream.Send(&pb.ExecuteRequest{SessionId: x.SessionID, Message: &pb.ExecuteRequest_Interrupt{Interrupt: &pb.CellInterrupt{CellId: cellID}}})
	if err == io.EOF {
		return nil // over already
	}
	return wrapError(x.ctx, err)
}

// CloseSend half-closes: no more cells and no more interrupts; the queued cells finish,
// then the stream ends (Recv returns io.EOF).
func (x *ExecuteStream) CloseSend() error {
	x.sendMu.Lock()
	defer x.sendMu.Unlock()
	return x.closeSendLocked()
}

func (x *ExecuteStream) closeSendLocked() error {
	if x.halfClosed {
		return nil
	}
	x.mu.Lock()
	x.halfClosed = true
	x.mu.Unlock()
	return wrapError(x.ctx, x.stream.CloseSend())
}

// Recv returns the next event, keepalives left out; io.EOF once the daemon has ended the
// stream (after CloseSend and the last cell), or the stream's error.
func (x *ExecuteStream) Recv() (CellEvent, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for len(x.queue) == 0 && !x.finished {
		x.wake.Wait()
	}
	if len(x.queue) > 0 {
		ev := x.queue[0]
		x.queue[0] = CellEvent{}
		x.queue = x.queue[1:]
		return ev, nil
	}
	if x.failure != nil {
		return CellEvent{}, x.failure
	}
	return CellEvent{}, io.EOF
}

// Result waits for a cell to end and returns what it left (a cell that ended with any
// status is not an error); the stream's error if it failed first.
func (x *ExecuteStream) Result(ctx context.Context, cellID string) (*Result, error) {
	x.mu.Lock()
	c := x.cells[cellID]
	x.mu.Unlock()
	if c == nil {
		return nil, &Error{Code: codes.InvalidArgument, Reason: "CELL_NOT_FOUND", Message: fmt.Sprintf("no cell %s was sent on this stream", cellID), Metadata: map[string]string{}}
	}
	select {
	case <-c.done:
		return c.result, c.err
	case <-ctx.Done():
		return nil, wrapError(ctx, status.FromContextError(ctx.Err()).Err())
	}
}

// CellIDs are the ids of the cells sent, in order.
func (x *ExecuteStream) CellIDs() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.order)
}

// Wait waits for the daemon to end the stream and returns the stream's error (nil when it
// ended after CloseSend and the last cell).
func (x *ExecuteStream) Wait(ctx context.Context) error {
	select {
	case <-x.done:
	case <-ctx.Done():
		return wrapError(ctx, status.FromContextError(ctx.Err()).Err())
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.failure
}

// Close interrupts every cell that has not ended (the queued ones first, so that none
// starts), half-closes, waits up to the close grace for the daemon to end the stream, then
// cancels the call. Safe to call more than once and from any goroutine; it returns once
// the stream is over. Errors are reported by Recv, Result and Wait, not here.
func (x *ExecuteStream) Close() error {
	x.closeOnce.Do(func() {
		x.mu.Lock()
		finished := x.finished
		x.mu.Unlock()
		if !finished {
			x.sendMu.Lock()
			if !x.halfClosed {
				x.mu.Lock()
				var open []string
				for _, id := range slices.Backward(x.order) {
					if c := x.cells[id]; c.result == nil && c.err == nil {
						open = append(open, id)
					}
				}
				x.mu.Unlock()
				for _, id := range open {
					_ = x.interruptLocked(id)
				}
			}
			_ = x.closeSendLocked()
			x.sendMu.Unlock()
			t := time.NewTimer(x.grace)
			select {
			case <-x.done:
			case <-t.C:
			}
			t.Stop()
		}
		x.cancel()
		<-x.done
	})
	<-x.done
	return nil
}

func (x *ExecuteStream) fail(err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.failure == nil && !x.finished {
		x.failure = err
	}
}

func (x *ExecuteStream) pump() {
	var failure error
	for {
		res, err := x.stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			failure = wrapError(x.ctx, err)
			break
		}
		ev := res.GetEvent()
		if ev == nil {
			continue
		}
		if _, ok := ev.GetEvent().(*pb.RunEvent_Keepalive); ok {
			continue
		}
		x.mu.Lock()
		if c := x.cells[res.GetCellId()]; c != nil && c.result == nil && c.err == nil {
			c.c.feed(ev)
			if ev.GetExited() != nil {
				c.result, c.err = c.c.result()
				close(c.done)
			}
		}
		x.queue = append(x.queue, CellEvent{CellID: res.GetCellId(), Event: ev})
		x.wake.Broadcast()
		x.mu.Unlock()
	}
	x.mu.Lock()
	if x.failure == nil {
		x.failure = failure
	}
	x.finished = true
	for _, c := range x.cells {
		if c.result != nil || c.err != nil {
			continue
		}
		if x.failure != nil {
			c.result, c.err = c.c.partial(), x.failure
		} else {
			c.result, c.err = c.c.result()
		}
		close(c.done)
	}
	x.wake.Broadcast()
	x.mu.Unlock()
	close(x.done)
}
