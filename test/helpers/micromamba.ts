/**
 * A stand-in for micromamba, for the command_wrapper tests (no micromamba binary can be had
 * here: docs/micromamba.md). It implements `micromamba run -n NAME COMMAND...` the way
 * micromamba does for a conda environment - COMMAND runs with the environment's bin first on
 * PATH and its prefix in CONDA_PREFIX - for Python venvs under `root`. An unknown environment
 * fails before COMMAND runs. Every call is appended to /tmp/micromamba-standin.log, so a test
 * can tell which processes went through it.
 */
export function standInMicromamba(root: string): string {
  return [
    "#!/bin/sh",
    "# micromamba stand-in (sandboxd tests): only `run -n NAME COMMAND...`, for Python venvs.",
    `root=${root}`,
    '[ "$1" = run ] || { echo "micromamba (stand-in): only \'run -n NAME COMMAND...\' is implemented" >&2; exit 2; }',
    "shift",
    '{ [ "$1" = -n ] && [ -n "$2" ]; } || { echo "micromamba (stand-in): run needs -n NAME" >&2; exit 2; }',
    "name=$2; shift 2",
    'printf "run -n %s %s\\n" "$name" "$*" >>/tmp/micromamba-standin.log 2>/dev/null',
    '[ -f "$root/$name/pyvenv.cfg" ] || { echo "critical libmamba environment \'$name\' does not exist (no prefix $root/$name)" >&2; exit 1; }',
    '[ $# -gt 0 ] || { echo "micromamba (stand-in): no command given" >&2; exit 2; }',
    "CONDA_PREFIX=$root/$name CONDA_DEFAULT_ENV=$name VIRTUAL_ENV=$root/$name PATH=$root/$name/bin:$PATH",
    "export CONDA_PREFIX CONDA_DEFAULT_ENV VIRTUAL_ENV PATH",
    'exec "$@"',
    "",
  ].join("\n");
}

/** Shell lines making the environments alpha and beta under `$1`: venvs of the image's python3, each with a module `envmarker` naming it. */
export const makeEnvsScript = [
  "set -e",
  "for n in alpha beta; do",
  // System site packages: pip (and IPython) of the image are usable in them, as a conda
  // environment carries its own.
  '  python3 -m venv --system-site-packages --without-pip "$1/$n"',
  '  sp=$("$1/$n/bin/python3" -c "import sysconfig; print(sysconfig.get_path(\'purelib\'))")',
  '  echo "NAME = \'$n\'" >"$sp/envmarker.py"',
  "done",
  "",
].join("\n");
