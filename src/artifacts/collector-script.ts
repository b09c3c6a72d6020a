/**
 * The sh program that collects one run's artifacts inside the sandbox (run through the
 * sandbox's process runner after the program exits). Args: spool dir, store dir, the next
 * plot index, output dir, run start (epoch seconds), the spool's file names already announced
 * while the run went on (space-separated; left alone). It moves the run's captured plots
 * from the spool into the store, named by their index, in the order the hook captured
 * them (manifest.tsv), then any file the hook did not list (R's devices), by name (the R
 * profile names files in the order it makes them); then lists files in the output dir modified since the run started. Output lines:
 *   P <index> <path> <format> <width> <height> <dpi> <size>
 *   O <path> <size> <mtime> <width> <height>
 * Fields are tab-separated; width/height of PNGs come from their IHDR chunk.
 */
export const collectorScript = String.raw`spool=$1; store=$2; next=$3; out=$4; since=$5; skip=" $6 "
export LC_ALL=C
tab=$(printf '\t')
dims() {
  od -An -v -tu1 -N24 -- "$1" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) b[n++] = $i }
    END { if (n >= 24 && b[0] == 137 && b[1] == 80 && b[12] == 73 && b[13] == 72 && b[14] == 68 && b[15] == 82)
            printf "%d\t%d", ((b[16] * 256 + b[17]) * 256 + b[18]) * 256 + b[19], ((b[20] * 256 + b[21]) * 256 + b[22]) * 256 + b[23]
          else printf "0\t0" }'
}
plot() { # file format "width<tab>height" dpi
  dest=$store/$(printf %06d "$next").$2
  mv -f -- "$spool/$1" "$dest" || return 0
  printf 'P\t%s\t%s\t%s\t%s\t%s\t%s\n' "$next" "$dest" "$2" "$3" "$4" "$(stat -c %s -- "$dest")"
  next=$((next + 1))
}
if [ -d "$spool" ]; then
  mkdir -p -- "$store" || exit 1
  if [ -f "$spool/manifest.tsv" ]; then
    while IFS="$tab" read -r file fmt mime w h dpi src; do
      case $file in ""|*/*|.*|manifest.tsv) continue ;; esac
      case $skip in *" $file "*) continue ;; esac
      [ -f "$spool/$file" ] && plot "$file" "$fmt" "$w$tab$h" "$dpi"
    done < "$spool/manifest.tsv"
    rm -f -- "$spool/manifest.tsv"
  fi
  for file in $(ls -1 -- "$spool"); do
    case $file in *.part|manifest.tsv) continue ;; esac
    case $skip in *" $file "*) continue ;; esac
    [ -f "$spool/$file" ] || continue
    fmt=$(printf %s "${"${file##*.}"}" | tr 'A-Z' 'a-z')
    [ "$fmt" = jpg ] && fmt=jpeg
    plot "$file" "$fmt" "$(dims "$spool/$file")" 0
  done
  rm -rf -- "$spool"
fi
if [ -n "$out" ] && [ -d "$out" ]; then
  find "$out" -type f -newermt "@$since" -printf '%s\t%T@\t%p\n' 2>/dev/null | head -n 1000 | while IFS="$tab" read -r size mtime path; do
    case $path in *.png|*.PNG) wh=$(dims "$path") ;; *) wh="0${"${tab}"}0" ;; esac
    printf 'O\t%s\t%s\t%s\t%s\n' "$path" "$size" "$mtime" "$wh"
  done
fi
exit 0
`;

/**
 * Moves plots announced while their run goes on from its spool into the store. Args: store
 * dir, then pairs of (spool file, store path). A file that is gone is no error.
 */
export const moveScript = String.raw`store=$1; shift
mkdir -p -- "$store" || exit 1
while [ $# -ge 2 ]; do
  [ -f "$1" ] && mv -f -- "$1" "$2"
  shift 2
done
exit 0
`;

/** Removes every stored plot (ClearArtifacts). Arg: store dir. */
export const clearScript = String.raw`rm -rf -- "$1"`;
