"""A new llm-sandbox user's script, written against llm-sandbox 0.3.39's documented API.

It is kept exactly as an llm-sandbox user would write it: the test runs it with only
``llm_sandbox`` changed to ``sandboxd`` in its imports. Each step prints one line the test
checks.
"""

import base64
import sys
import tempfile
import time
from pathlib import Path

from llm_sandbox import ArtifactSandboxSession, InteractiveSandboxSession, SandboxSession
from llm_sandbox.exceptions import SandboxTimeoutError
from llm_sandbox.pool import ExhaustionStrategy, PoolConfig, PoolExhaustedError, create_pool_manager

work = Path(tempfile.mkdtemp())

# 1. A warm pool for many short tasks.
pool = create_pool_manager(
    backend="docker",
    config=PoolConfig(max_pool_size=2, min_pool_size=1, exhaustion_strategy=ExhaustionStrategy.FAIL_FAST),
    lang="python",
)
try:
    squares = []
    for n in range(3):
        with SandboxSession(lang="python", pool=pool) as session:
            squares.append(session.run(f"print({n} * {n})").stdout.strip())
    print("pool squares:", ",".join(squares))
    first = pool.acquire()
    second = pool.acquire()
    try:
        pool.acquire()
        print("pool exhausted: no")
    except PoolExhaustedError:
        print("pool exhausted: yes")
    pool.release(first)
    pool.release(second)
    stats = pool.get_stats()
    print("pool stats:", stats["max_size"], stats["min_size"], sorted(stats["state_counts"]))
finally:
    pool.close()

# 2. Plots from an artifact session.
with ArtifactSandboxSession(lang="python") as session:
    result = session.run("import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.title('squares')\nplt.show()")
    for i, plot in enumerate(result.plots):
        (work / f"plot_{i}.{plot.format.value}").write_bytes(base64.b64decode(plot.content_base64))
    result = session.run("import matplotlib.pyplot as plt\nplt.bar(['a', 'b'], [3, 5])\nplt.show()")
    print("plots:", len(result.plots), sorted(p.name for p in work.glob("plot_*")))

# 3. A notebook-like session: state persists, values display.
with InteractiveSandboxSession(lang="python") as session:
    session.run("value = 21 * 2")
    print("interactive:", session.run("print(f'Result: {value}')").stdout.strip(), session.run("value + 1").stdout.strip())

# 4. Files in and out; a run that takes too long.
(work / "data").mkdir()
(work / "data" / "numbers.csv").write_text("n\n1\n2\n3\n")
with SandboxSession(lang="python", session_timeout=300) as session:
    session.copy_to_runtime(str(work / "data" / "numbers.csv"), "/sandbox/numbers.csv")
    session.run("import os\nos.makedirs('/sandbox/out', exist_ok=True)\nopen('/sandbox/out/total.txt', 'w').write(str(sum(int(l) for l in open('/sandbox/numbers.csv').read().split()[1:])))")
    session.copy_from_runtime("/sandbox/out", str(work / "results"))
    print("copied:", (work / "results" / "out" / "total.txt").read_text())
    started = time.time()
    try:
        session.run("import time\ntime.sleep(30)", timeout=2)
        print("timeout: no")
    except SandboxTimeoutError:
        print("timeout: yes", "fast" if time.time() - started < 20 else "slow")
    print("after timeout:", session.run("print('still usable')").stdout.strip())

sys.exit(0)
