package sandboxd_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"regexp"
	"strings"
	"testing"

	pb "github.com/sandboxd/sandboxd/clients/go/gen/sandboxd/v1"
	"github.com/sandboxd/sandboxd/clients/go/sandboxd"
)

// This example is the one in README.md; TestReadmeShowsTheTestedExample keeps them equal.
func Example() {
	ctx := context.Background()
	client, err := sandboxd.New("") // SANDBOXD_ADDRESS, SANDBOXD_TOKEN
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	sb, err := client.CreateSandbox(ctx, &pb.SandboxSpec{Language: "python"})
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Destroy(ctx)

	// Events arrive while the program runs; stopping the loop cancels the run.
	for ev, err := range sb.Run(ctx, "for i in range(3):\n    print(i, flush=True)") {
		if err != nil {
			log.Fatal(err)
		}
		if out := ev.GetOutput(); out != nil {
			fmt.Print(string(out.GetData()))
		}
		if exit := ev.GetExited(); exit != nil {
			fmt.Println(exit.GetStatus(), exit.GetExitCode())
		}
	}

	// Or collect a run into its result.
	res, err := sandboxd.Collect(sb.Run(ctx, "import sys; sys.exit(3)"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exit code", res.ExitCode)

	// Errors carry the gRPC code and the daemon's reason.
	_, err = client.CreateSandbox(ctx, &pb.SandboxSpec{Language: "cobol"})
	fmt.Println(sandboxd.IsReason(err, "LANGUAGE_NOT_SUPPORTED"))
	// Output:
	// 0
	// 1
	// 2
	// EXIT_STATUS_EXITED 0
	// exit code 3
	// true
}

func TestReadmeShowsTheTestedExample(t *testing.T) {
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	body := regexp.MustCompile(`(?s)func Example\(\) \{\n(.*?)\n\t// Output:`).FindSubmatch(src)
	block := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(readme)
	if body == nil || block == nil {
		t.Fatal("example or README block not found")
	}
	dedent := func(s string) string {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		for i, l := range lines {
			lines[i] = strings.TrimPrefix(l, "\t")
		}
		return strings.Join(lines, "\n")
	}
	want := dedent(string(body[1]))
	if !strings.Contains(string(block[1]), want) {
		t.Fatalf("README.md's go block does not contain Example()'s body:\n%s", want)
	}
}

// Cells sent on one Execute stream run in order in the session; their events come back
// tagged with the cell's id. (No Output: it needs a daemon, so go test only compiles it.)
func ExampleSession_Execute() {
	ctx := context.Background()
	client, err := sandboxd.New("")
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	sb, err := client.CreateSandbox(ctx, &pb.SandboxSpec{Language: "python"})
	if err != nil {
		log.Fatal(err)
	}
	defer sb.Destroy(ctx)
	session, err := sb.NewSession(ctx, pb.SessionKind_SESSION_KIND_IPYTHON, "", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close(ctx)

	stream, err := session.Execute(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// Close interrupts the cells still running, then cancels the call.
	defer stream.Close()
	stream.Send("x = 41")                                     // cell-1
	stream.Send("print(x + 1)")                               // cell-2
	stream.Send("import time; time.sleep(60)")                // cell-3
	stream.Send("print('done')", sandboxd.WithCellID("last")) // queued after cell-3
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break // the daemon ended the stream after the last cell
		}
		if err != nil {
			log.Fatal(err)
		}
		if out := ev.Event.GetOutput(); out != nil {
			fmt.Printf("%s: %s", ev.CellID, out.GetData())
		}
		if ev.CellID == "cell-2" && ev.Event.GetExited() != nil {
			stream.Interrupt("cell-3") // dropped while queued, or stopped if running
			stream.CloseSend()         // no more cells: "last" still runs, then io.EOF
		}
	}
	last, err := stream.Result(ctx, "last")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(last.Stdout)
}
