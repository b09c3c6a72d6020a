/**
 * POSIX sh programs the daemon runs inside a sandbox (each a process started through the
 * sandbox's channel, transfer-process.ts) to move bytes in and out. They need only sh, coreutils and tar, so every image works. Each resolves
 * the path with `realpath` inside the sandbox and refuses it when it leaves the workdir
 * and /tmp, so a symlink cannot redirect a transfer. The first positional argument is
 * always the workdir. Results are one line on stdout: `OK ...` or `ERR <CODE> <message>`,
 * and the exit status names the code too (10-14, see exitCodes in file-transfer.ts): in the
 * exec fallback, Podman's conmon sometimes resets an exec's attach stream before its last
 * line is read.
 */

const prelude = String.raw`
err() {
  printf 'ERR %s %s\n' "$1" "$2"
  case $1 in INVALID_ARGUMENT) exit 10;; PERMISSION_DENIED) exit 11;; NOT_FOUND) exit 12;; FAILED_PRECONDITION) exit 13;; ABORTED) exit 14;; esac
  exit 3
}
W=$(realpath -e -- "$wd" 2>/dev/null) || err FAILED_PRECONDITION "the workdir $wd is missing"
T=$(realpath -e /tmp)
inroots() { case "$1/" in "$W"/*|"$T"/*) return 0;; esac; return 1; }
`;

/** Finds the first missing ancestor of directory $d into $made, so a failed upload can remove what it created. */
const makeParent = String.raw`
made=; a=$d
while [ ! -e "$a" ] && [ ! -L "$a" ]; do made=$a; a=${"${a%/*}"}; done
[ -d "$a" ] || err INVALID_ARGUMENT "$a is not a directory"
mkdir -p -- "$d" 2>/dev/null || err INVALID_ARGUMENT "cannot create the directory $d"
unmake() { [ -n "$made" ] || return 0; x=$d; while rmdir -- "$x" 2>/dev/null && [ "$x" != "$made" ]; do x=${"${x%/*}"}; done; }
`;

/**
 * Upload of one file. Args: workdir, path, octal mode, token. Stdin is the file's bytes
 * followed by the token: a stream cut short (client gone, upload refused) lacks it, and the
 * half-written temporary file is removed instead of being moved into place.
 */
export const uploadFileScript = String.raw`wd=$1; p=$2; mode=$3; tok=$4
${prelude}
r=$(realpath -m -- "$p") || err INVALID_ARGUMENT "cannot resolve $p"
inroots "$r" || err PERMISSION_DENIED "$p resolves to $r, outside the workdir and /tmp"
[ -d "$r" ] && err INVALID_ARGUMENT "$p is a directory"
[ -e "$r" ] && [ ! -f "$r" ] && err INVALID_ARGUMENT "$p exists and is not a regular file"
d=${"${r%/*}"}; [ -n "$d" ] || d=/
${makeParent}
tmp=$d/.sandboxd-upload-$tok
cleanup() { rm -f -- "$tmp"; unmake; }
if ! cat > "$tmp"; then cleanup; err IO "writing $p failed"; fi
if [ "$(tail -c 32 -- "$tmp")" != "$tok" ]; then cleanup; err ABORTED "the upload of $p did not complete"; fi
if ! { truncate -s -32 -- "$tmp" && chmod -- "$mode" "$tmp" && mv -fT -- "$tmp" "$r"; }; then cleanup; err IO "storing $p failed"; fi
echo OK
`;

/**
 * Upload of a tar (already checked and re-packed by the daemon) into a directory. Args:
 * workdir, path, token. It unpacks into a staging directory beside or inside the
 * destination (same filesystem) and moves everything into place only when the commit
 * marker, the archive's last entry, arrived. Existing directories are merged; existing
 * files and symlinks at an entry's path are replaced (a symlink is never written through).
 */
export const uploadTarScript = String.raw`wd=$1; p=$2; tok=$3
${prelude}
r=$(realpath -m -- "$p") || err INVALID_ARGUMENT "cannot resolve $p"
inroots "$r" || err PERMISSION_DENIED "$p resolves to $r, outside the workdir and /tmp"
[ -e "$r" ] && [ ! -d "$r" ] && err INVALID_ARGUMENT "$p exists and is not a directory"
if [ -d "$r" ]; then
  d=$r; made=; unmake() { :; }
else
  d=${"${r%/*}"}; [ -n "$d" ] || d=/
  ${makeParent}
fi
stage=$d/.sandboxd-upload-$tok
cleanup() { rm -rf -- "$stage"; unmake; }
mkdir -- "$stage" || err IO "cannot create a staging directory in $d"
if ! tar -x -f - -C "$stage" --no-same-owner; then cleanup; err IO "unpacking into $p failed"; fi
[ -f "$stage/.sandboxd-commit-$tok" ] || { cleanup; err ABORTED "the upload into $p did not complete"; }
rm -f -- "$stage/.sandboxd-commit-$tok"
merge() {
  for e in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    t=$2/${"${e##*/}"}
    if [ -d "$e" ] && [ ! -L "$e" ] && [ -d "$t" ] && [ ! -L "$t" ]; then
      merge "$e" "$t" || return 1
    else
      rm -rf -- "$t" && mv -fT -- "$e" "$t" || return 1
    fi
  done
}
if [ "$d" = "$r" ]; then
  merge "$stage" "$r" || { cleanup; err IO "moving the upload into $p failed"; }
  rm -rf -- "$stage"
else
  mv -T -- "$stage" "$r" || { cleanup; err IO "moving the upload into $p failed"; }
fi
echo OK
`;

/**
 * Download. Args: workdir, path, kind (auto, file or tar). Prints a header line
 * `OK <FILE|TAR> <octal mode> <size>` and then the bytes: the file itself, or a tar of the
 * directory's contents (or of the one file, when TAR was asked for a file).
 */
export const downloadScript = String.raw`wd=$1; p=$2; kind=$3
${prelude}
r=$(realpath -e -- "$p" 2>/dev/null) || err NOT_FOUND "$p does not exist"
inroots "$r" || err PERMISSION_DENIED "$p resolves to $r, outside the workdir and /tmp"
[ -r "$r" ] || err PERMISSION_DENIED "$p is not readable"
m=$(stat -c %a -- "$r")
if [ -d "$r" ]; then
  [ "$kind" = file ] && err INVALID_ARGUMENT "$p is a directory; download it as TAR"
  cd -- "$r" || err PERMISSION_DENIED "$p cannot be entered"
  printf 'OK TAR %s 0\n' "$m"
  exec tar -c -f - .
elif [ -f "$r" ]; then
  if [ "$kind" = tar ]; then
    cd -- "${"${r%/*}"}/" || err PERMISSION_DENIED "the directory of $p cannot be entered"
    printf 'OK TAR %s 0\n' "$m"
    exec tar -c -f - -- "${"${r##*/}"}"
  fi
  printf 'OK FILE %s %s\n' "$m" "$(stat -c %s -- "$r")"
  exec cat -- "$r"
else
  err INVALID_ARGUMENT "$p is not a regular file or a directory"
fi
`;
