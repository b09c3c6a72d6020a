#!/usr/bin/env bash
# Builds the sandbox images without an image registry: for each name, debootstrap a
# minimal Debian root with the packages in deploy/images/<name>/packages, run its
# post-install.sh, add the sandbox user, shrink the root and `docker import` it as
# sandboxd/<name>:latest. The Dockerfile beside each package list builds the same image
# where a registry is reachable; its single-line `ENV KEY=VALUE` lines are the image's
# environment here too, so the two builds cannot drift apart.
#
# Usage: deploy/images/build.sh [--force] [--jobs N] <name>...|all
#
# Environment:
#   DEBIAN_MIRROR   Debian mirror URL; default: read from this machine's apt sources
#   SANDBOXD_DEBOOTSTRAP_CACHE   shared .deb cache (default /var/cache/sandboxd-debootstrap)
#   SANDBOXD_BUILD_JOBS   images built at once (default 2; --jobs overrides)
#   SANDBOXD_BUILD_TMPDIR   where roots are assembled (default /var/tmp)
set -euo pipefail

IMAGES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly IMAGES_DIR
readonly SUITE=bookworm
readonly CACHE_DIR="${SANDBOXD_DEBOOTSTRAP_CACHE:-/var/cache/sandboxd-debootstrap}"
# Largest first, so that two parallel slots finish close together.
readonly BUILD_ORDER=(python node r java go cpp ruby base)
readonly CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

usage() {
  cat >&2 <<'EOF'
usage: deploy/images/build.sh [--force] [--jobs N] <name>...|all
  Builds sandboxd/<name>:latest from deploy/images/<name>/packages with debootstrap and
  docker import. Existing images are skipped unless --force is given.
EOF
}

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Prints the Debian mirror to bootstrap from: $DEBIAN_MIRROR, else the first URI of the
# machine's apt sources that serves $SUITE (deb822 .sources first, then sources.list).
detect_mirror() {
  if [[ -n "${DEBIAN_MIRROR:-}" ]]; then
    printf '%s\n' "${DEBIAN_MIRROR%/}"
    return
  fi
  local uri="" file want
  # Prefer a source that names the suite itself; otherwise any non-security Debian source
  # (a host on another release uses the same archive).
  for want in exact any; do
    for file in /etc/apt/sources.list.d/*.sources; do
      [[ -f "$file" ]] || continue
      uri="$(awk -v suite="$SUITE" -v want="$want" '
        function flush() {
          if (!found && uris != "" && enabled != "no" && (" " types " ") ~ / deb / &&
              ((want == "exact" && (" " suites " ") ~ (" " suite " ")) ||
               (want == "any" && suites !~ /-security/))) {
            split(uris, u, " "); print u[1]; found = 1
          }
          uris = ""; suites = ""; types = ""; enabled = ""
        }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]*#/ { next }
        { key = tolower($1); $1 = "" }
        key == "types:" { types = $0 }
        key == "uris:" { uris = $0 }
        key == "suites:" { suites = $0 }
        key == "enabled:" { enabled = tolower($2) }
        END { flush() }
      ' "$file")"
      [[ -n "$uri" ]] && break 2
    done
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [[ -f "$file" ]] || continue
      uri="$(sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$file" | awk -v suite="$SUITE" -v want="$want" '
        $1 == "deb" && ((want == "exact" && $3 == suite) || (want == "any" && $3 !~ /-security/)) {
          print $2; exit
        }')"
      [[ -n "$uri" ]] && break 2
    done
  done
  [[ -n "$uri" ]] || die "no Debian mirror found in /etc/apt sources; set DEBIAN_MIRROR"
  printf '%s\n' "${uri%/}"
}

image_exists() { docker image inspect "sandboxd/$1:latest" >/dev/null 2>&1; }

# Prints the packages of an image as a comma list (comments and blank lines dropped).
package_list() {
  sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$IMAGES_DIR/$1/packages" | paste -sd, -
}

# Prints one `--change` argument per line for the image's config. ENV comes from the
# Dockerfile's `ENV KEY=VALUE` lines, the rest is the same for every image.
import_changes() {
  local name="$1" dockerfile="$IMAGES_DIR/$1/Dockerfile"
  grep -E '^ENV [A-Za-z_][A-Za-z0-9_]*=' "$dockerfile"
  printf '%s\n' \
    "LABEL org.sandboxd.image=$name" \
    'WORKDIR /sandbox' \
    'USER 1000:1000' \
    'CMD ["sleep","infinity"]'
}

# Unmounts whatever debootstrap left mounted below a directory, deepest first.
unmount_below() {
  local dir="$1" mnt
  [[ "$dir" == /?*/?* ]] || return 0
  awk -v dir="$dir" '$2 == dir || index($2, dir "/") == 1 {print $2}' /proc/mounts | sort -r |
    while read -r mnt; do umount -l "$mnt" 2>/dev/null || true; done
}

# dpkg settings for the root: the same excludes as debian:bookworm-slim (kept in the
# image, so later installs stay lean), plus unsafe-io while building (removed after).
write_dpkg_config() {
  local root="$1"
  mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# Files containers do not need, as in debian:bookworm-slim.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/sandboxd-build-unsafe-io"
}

# Runs debootstrap with a private, hard-linked view of the shared .deb cache, so that two
# builds at once never write the same cache file; new downloads are published afterwards.
run_debootstrap() {
  local name="$1" root="$2" mirror="$3" logfile="$4" private
  private="$(mktemp -d "$CACHE_DIR/.build-$$-$name.XXXXXX")"
  cp -al "$CACHE_DIR"/*.deb "$private/" 2>/dev/null || true
  local status=0
  debootstrap --variant=minbase --include="$(package_list "$name")" \
    --cache-dir="$private" "$SUITE" "$root" "$mirror" >"$logfile" 2>&1 || status=$?
  local deb
  for deb in "$private"/*.deb; do
    [[ -e "$deb" ]] || continue
    ln "$deb" "$CACHE_DIR/" 2>/dev/null || true
  done
  rm -rf "$private"
  if ((status != 0)) && [[ -f "$root/debootstrap/debootstrap.log" ]]; then
    { echo "--- end of $root/debootstrap/debootstrap.log:"; tail -n 60 "$root/debootstrap/debootstrap.log"; } >>"$logfile"
  fi
  return "$status"
}

# Adds the sandbox user and shrinks the root. Mirrors the Dockerfiles' RUN steps.
configure_root() {
  local name="$1" root="$2"
  local -a in_root=(env -i "PATH=$CHROOT_PATH" LANG=C.UTF-8 HOME=/root chroot "$root")
  if [[ -f "$IMAGES_DIR/$name/post-install.sh" ]]; then
    cp "$IMAGES_DIR/$name/post-install.sh" "$root/tmp/post-install.sh"
    "${in_root[@]}" sh /tmp/post-install.sh
    rm -f "$root/tmp/post-install.sh"
  fi
  "${in_root[@]}" groupadd --gid 1000 sandbox
  "${in_root[@]}" useradd --uid 1000 --gid 1000 --home-dir /sandbox --no-create-home \
    --shell /bin/bash sandbox
  install -d -o 1000 -g 1000 -m 0755 "$root/sandbox"

  rm -f "$root/etc/dpkg/dpkg.cfg.d/sandboxd-build-unsafe-io"
  # Docker provides these at run time; the build host's copies must not leak in.
  rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
  [[ ! -s "$root/etc/machine-id" ]] || : >"$root/etc/machine-id"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
    "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/archives/partial/* \
    "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
    "$root"/var/cache/ldconfig/aux-cache "$root"/debootstrap
  find "$root/var/log" -type f -delete
  # debootstrap's first stage unpacks without the dpkg excludes: apply them now.
  find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete 2>/dev/null || true
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/groff/* \
    "$root"/usr/share/lintian/overrides/* "$root"/usr/share/locale/*
}

import_root() {
  local name="$1" root="$2" line
  local -a changes=()
  while IFS= read -r line; do changes+=(--change "$line"); done < <(import_changes "$name")
  tar --numeric-owner --xattrs -C "$root" \
    --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' -c . |
    docker import "${changes[@]}" \
      --message "sandboxd $name image, debootstrap $SUITE" - "sandboxd/$name:latest" >/dev/null
}

# Builds one image in a subshell with errexit; the result file says how far it got:
# "name status seconds bytes", status being built or failed:<step>.
build_one() {
  local name="$1" mirror="$2"
  local root="$WORKDIR/$name/root" logfile="$WORKDIR/$name/build.log"
  local result="$WORKDIR/$name/result" started=$SECONDS old_id new_id bytes
  mkdir -p "$root"
  old_id="$(docker image inspect -f '{{.Id}}' "sandboxd/$name:latest" 2>/dev/null || true)"

  echo "$name failed:debootstrap 0 0" >"$result"
  log "$name: debootstrap $SUITE with $(package_list "$name" | tr ',' '\n' | wc -l) packages"
  write_dpkg_config "$root"
  run_debootstrap "$name" "$root" "$mirror" "$logfile"
  unmount_below "$root"

  echo "$name failed:configure 0 0" >"$result"
  log "$name: debootstrap done after $((SECONDS - started))s; configuring the root"
  configure_root "$name" "$root" >>"$logfile" 2>&1

  echo "$name failed:import 0 0" >"$result"
  log "$name: importing $(du -sh --one-file-system "$root" | cut -f1) as sandboxd/$name:latest"
  import_root "$name" "$root" 2>>"$logfile"
  rm -rf --one-file-system "$root"

  # A rebuilt image leaves its predecessor untagged; drop it unless a container uses it.
  new_id="$(docker image inspect -f '{{.Id}}' "sandboxd/$name:latest")"
  if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
  fi
  bytes="$(docker image inspect -f '{{.Size}}' "sandboxd/$name:latest")"
  echo "$name built $((SECONDS - started)) $bytes" >"$result"
  log "$name: built in $((SECONDS - started))s, $((bytes / 1000000)) MB"
}

# Kills a process and everything it started, children first.
kill_tree() {
  local pid="$1" child
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do kill_tree "$child"; done
  kill "$pid" 2>/dev/null || true
}

# On any exit: stop running builds, unmount what debootstrap mounted, delete the roots
# without crossing into a mount, and drop this run's private cache views.
cleanup() {
  local pid
  for pid in $(jobs -pr); do kill_tree "$pid"; done
  wait 2>/dev/null || true
  if [[ -n "${WORKDIR:-}" && -d "$WORKDIR" ]]; then
    unmount_below "$WORKDIR"
    rm -rf --one-file-system "$WORKDIR"
  fi
  rm -rf "$CACHE_DIR"/.build-$$-* 2>/dev/null || true
}

WORKDIR=""

main() {
  local force=0 jobs="${SANDBOXD_BUILD_JOBS:-2}"
  local -a names=()
  while (($#)); do
    case "$1" in
      --force) force=1 ;;
      --jobs) [[ $# -ge 2 ]] || { usage; exit 2; }; jobs="$2"; shift ;;
      --jobs=*) jobs="${1#--jobs=}" ;;
      -h | --help) usage; exit 0 ;;
      -*) usage; exit 2 ;;
      all)
        local n
        for n in "${BUILD_ORDER[@]}"; do names+=("$n"); done
        for n in "$IMAGES_DIR"/*/packages; do
          n="$(basename "$(dirname "$n")")"
          [[ " ${BUILD_ORDER[*]} " == *" $n "* ]] || names+=("$n")
        done
        ;;
      *) names+=("$1") ;;
    esac
    shift
  done
  ((${#names[@]})) || { usage; exit 2; }
  [[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a positive number"
  local name
  for name in "${names[@]}"; do
    [[ -f "$IMAGES_DIR/$name/packages" && -f "$IMAGES_DIR/$name/Dockerfile" ]] ||
      die "unknown image '$name' (no deploy/images/$name/packages or Dockerfile)"
    ! grep -Eq '^ENV .*\\$' "$IMAGES_DIR/$name/Dockerfile" ||
      die "$name: Dockerfile ENV lines must be single-line KEY=VALUE for build.sh"
    ! grep -Eq '^ENV .*\$' "$IMAGES_DIR/$name/Dockerfile" ||
      die "$name: Dockerfile ENV values must be literal (no \$VAR) for build.sh"
  done
  ((EUID == 0)) || die "debootstrap and chroot need root"
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  docker info >/dev/null 2>&1 || die "cannot reach the docker engine"

  local -a todo=() skipped=()
  for name in "${names[@]}"; do
    [[ " ${todo[*]} ${skipped[*]} " == *" $name "* ]] && continue
    if ((force == 0)) && image_exists "$name"; then
      skipped+=("$name")
    else
      todo+=("$name")
    fi
  done
  ((${#skipped[@]} == 0)) || log "skipping ${skipped[*]}: already built (use --force to rebuild)"
  if ((${#todo[@]} == 0)); then
    echo "build.sh: built 0 in 0s; skipped ${skipped[*]}"
    return 0
  fi

  local mirror started=$SECONDS
  mirror="$(detect_mirror)"
  mkdir -p "$CACHE_DIR"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  WORKDIR="$(mktemp -d "${SANDBOXD_BUILD_TMPDIR:-/var/tmp}/sandboxd-images.XXXXXX")"
  log "building ${todo[*]} from $mirror, $jobs at a time; .deb cache in $CACHE_DIR"

  local running=0
  for name in "${todo[@]}"; do
    if ((running >= jobs)); then
      wait -n || true
      running=$((running - 1))
    fi
    mkdir -p "$WORKDIR/$name"
    (build_one "$name" "$mirror") &
    running=$((running + 1))
  done
  wait || true

  local -a built=() failed=()
  local status seconds bytes
  for name in "${todo[@]}"; do
    read -r _ status seconds bytes <"$WORKDIR/$name/result"
    if [[ "$status" == built ]]; then
      built+=("$name ${seconds}s $((bytes / 1000000))MB")
    else
      failed+=("$name (${status#failed:})")
      log "$name: ${status#failed:} failed; last lines of its log:"
      tail -n 40 "$WORKDIR/$name/build.log" >&2 || true
    fi
  done
  local summary="build.sh: built ${#built[@]} in $((SECONDS - started))s"
  ((${#built[@]} == 0)) || summary+=" ($(printf '%s, ' "${built[@]}" | sed 's/, $//'))"
  ((${#skipped[@]} == 0)) || summary+="; skipped ${skipped[*]}"
  ((${#failed[@]} == 0)) || summary+="; FAILED ${failed[*]}"
  echo "$summary"
  ((${#failed[@]} == 0))
}

main "$@"
