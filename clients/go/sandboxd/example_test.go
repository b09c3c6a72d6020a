package sandboxd_test

import (
	"context"
	"fmt"
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
