"""Times llm-sandbox on the same image as sandboxd, for bench/ephemeral-run.ts and
bench/interactive-cell.ts. Prints one JSON object on the last line of stdout.

Both modes keep llm-sandbox off the network and off registries: the image is local (it is
used as is, never pulled), containers get network_mode "none", and pip inside them runs
with PIP_NO_INDEX=1. They also get an init process (docker's --init), as sandboxd's
containers do, so closing a session does not wait out the engine's 10 s stop timeout on a
PID 1 that ignores SIGTERM.
"""
import argparse
import json
import sys
import time

RUNTIME_CONFIGS = {"network_mode": "none", "init": True, "environment": {"PIP_NO_INDEX": "1"}}


def ms(a, b):
    return (b - a) * 1000.0


def ephemeral(args):
    from llm_sandbox import SandboxSession

    rows = []
    failures = []
    for i in range(args.warmup + args.iterations):
        t0 = time.perf_counter()
        session = SandboxSession(
            lang="python",
            image=args.image,
            # The image already has its runtime: no venv, no pip upgrade (which needs a network).
            skip_environment_setup=True,
            runtime_configs=json.loads(json.dumps(RUNTIME_CONFIGS)),
            verbose=False,
        )
        session.open()
        t1 = time.perf_counter()
        try:
            out = session.run("print(1)")
            t2 = time.perf_counter()
        finally:
            session.close()
        t3 = time.perf_counter()
        if out.stdout != "1\n" or out.exit_code != 0:
            failures.append({"stdout": out.stdout, "stderr": out.stderr, "exit_code": out.exit_code})
        if i >= args.warmup:
            rows.append({"open_ms": ms(t0, t1), "run_ms": ms(t1, t2), "close_ms": ms(t2, t3), "total_ms": ms(t0, t3)})
    return {"mode": "ephemeral", "rows": rows, "failures": failures}


def interactive(args):
    from llm_sandbox.interactive import InteractiveSandboxSession

    t0 = time.perf_counter()
    session = InteractiveSandboxSession(
        lang="python",
        image=args.image,
        runtime_configs=json.loads(json.dumps(RUNTIME_CONFIGS)),
        verbose=False,
    )
    session.open()
    setup_ms = ms(t0, time.perf_counter())
    cells = []
    failures = []
    try:
        session.run("counter = 0")
        for i in range(args.warmup + args.iterations):
            a = time.perf_counter()
            out = session.run("counter += 1\nprint(counter)")
            b = time.perf_counter()
            if out.stdout != f"{i + 1}\n":
                failures.append({"stdout": out.stdout, "stderr": out.stderr, "expected": f"{i + 1}\n"})
            if i >= args.warmup:
                cells.append(ms(a, b))
    finally:
        session.close()
    return {"mode": "interactive", "setup_ms": setup_ms, "cell_ms": cells, "failures": failures}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["ephemeral", "interactive", "version"])
    p.add_argument("--image", default="sandboxd/python:latest")
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--warmup", type=int, default=1)
    args = p.parse_args()
    if args.mode == "version":
        from importlib.metadata import version

        result = {"llm_sandbox": version("llm-sandbox"), "docker": version("docker"), "python": sys.version.split()[0]}
    elif args.mode == "ephemeral":
        result = ephemeral(args)
    else:
        result = interactive(args)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
