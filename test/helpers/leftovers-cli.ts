/**
 * The containers or pods a daemon left behind, on whichever backend the tests run against
 * (SANDBOXD_TEST_BACKEND): for the Python and Go clients' suites, which check after every
 * daemon they stop.
 *
 *   node --import tsx test/helpers/leftovers-cli.ts <daemon-id> [--remove]
 *
 * Prints one name per line (nothing when none is left); with --remove, removes them too.
 */
import { removeWorkload, workloads } from "./engine.js";

const [daemonId, flag] = process.argv.slice(2);
if (!daemonId || (flag !== undefined && flag !== "--remove")) {
  process.stderr.write("usage: leftovers-cli.ts <daemon-id> [--remove]\n");
  process.exit(2);
}
const left = await workloads([`org.sandboxd.daemon=${daemonId}`]);
for (const w of left) {
  process.stdout.write(`${w.name}\n`);
  if (flag === "--remove") await removeWorkload(w.id);
}
