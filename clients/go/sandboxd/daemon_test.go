package sandboxd_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sandboxd/sandboxd/clients/go/sandboxd"
)

// The tests drive a real daemon started from this repository (node, src/main.ts) with real
// containers. Set SANDBOXD_TEST_ADDRESS to use a daemon that is already running. When the
// daemon cannot start, every test fails: nothing is skipped silently.

var (
	daemonAddr string
	daemonID   string
	client     *sandboxd.Client
)

type daemon struct {
	cmd  *exec.Cmd
	addr string
	id   string
}

func repoRoot() (string, error) {
	if root := os.Getenv("SANDBOXD_REPO"); root != "" {
		return root, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "src", "main.ts")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no sandboxd repository (src/main.ts) above %s", dir)
}

func startDaemon(env ...string) (*daemon, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	// Not "test-": the integration suite removes every "test-*" daemon's containers.
	id := "e2e-go-" + hex.EncodeToString(b)
	logDir := filepath.Join(root, ".cache", "test-logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(logDir, id+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("node", "--import", "tsx", "src/main.ts", "--listen", "127.0.0.1:0", "--daemon-id", id, "--shutdown-grace-ms", "5000")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`sandboxd listening on (\S+)`)
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logFile, line)
			if m := re.FindStringSubmatch(line); m != nil && !sent {
				found <- m[1]
				sent = true
			}
		}
		if !sent {
			close(found)
		}
	}()
	select {
	case addr, ok := <-found:
		if !ok {
			_ = cmd.Wait()
			return nil, fmt.Errorf("daemon exited before listening; log: %s", logFile.Name())
		}
		return &daemon{cmd: cmd, addr: addr, id: id}, nil
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("daemon did not listen within 60s; log: %s", logFile.Name())
	}
}

// leftovers lists (with remove: and removes) the containers or pods a daemon left behind,
// on the backend the integration tests use (SANDBOXD_TEST_BACKEND).
func leftovers(id string, remove bool) []string {
	root, err := repoRoot()
	if err != nil {
		return []string{err.Error()}
	}
	args := []string{"--import", "tsx", "test/helpers/leftovers-cli.ts", id}
	if remove {
		args = append(args, "--remove")
	}
	cmd := exec.Command("node", args...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return []string{"listing leftovers failed: " + err.Error()}
	}
	return strings.Fields(string(out))
}

// stop ends the daemon; it returns the containers it left behind (and removes them).
func (d *daemon) stop() []string {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
	}
	left := leftovers(d.id, false)
	for i := 0; i < 20 && len(left) > 0; i++ {
		time.Sleep(500 * time.Millisecond)
		left = leftovers(d.id, false)
	}
	if len(left) > 0 {
		_ = leftovers(d.id, true)
	}
	return left
}

func TestMain(m *testing.M) {
	var main *daemon
	if addr := os.Getenv("SANDBOXD_TEST_ADDRESS"); addr != "" {
		daemonAddr = addr
	} else {
		var err error
		main, err = startDaemon()
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: cannot start sandboxd:", err)
			os.Exit(1)
		}
		daemonAddr, daemonID = main.addr, main.id
	}
	// The README example reads the address like a user's program would.
	_ = os.Setenv("SANDBOXD_ADDRESS", daemonAddr)
	var err error
	client, err = sandboxd.New(daemonAddr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: cannot connect:", err)
		os.Exit(1)
	}
	code := m.Run()
	if sharedSandbox != nil {
		_, _ = sharedSandbox.Destroy(context.Background())
	}
	_ = client.Close()
	if main != nil {
		if left := main.stop(); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: daemon %s left containers behind: %v\n", main.id, left)
			code = 1
		}
	}
	os.Exit(code)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
