"""The shell scripts edgedq runs on a board, and the one reply format they share.

Every script is POSIX sh (dash, busybox ash) run as ``sh -c SCRIPT sh WORKDIR ARGS...``: the work folder
comes first, every argument is quoted by ``shlex.join``, and the script does its own ``~`` expansion
(asking the board for $HOME would cost a round trip).  Each starts with ``ENTER``, which

- prints ``edgedq-begin``: whatever a login shell printed before it (a chatty ``~/.bashrc``) is noise,
  skipped and reported by the host;
- creates and enters the work folder, and refuses it (exit 5, ``edgedq-unsafe`` on stderr) when another
  user could write to it or to a folder above it, as sshd's StrictModes refuses such a ``~/.ssh``.

Board tools used: POSIX sh, coreutils (sha256sum, stat, timeout, head), util-linux (flock, setsid), grep -z.
"""

from __future__ import annotations

BEGIN = "edgedq-begin"
UNSAFE_STATUS = 5

ENTER = r"""dir=$1; shift
echo edgedq-begin
case $dir in "~") dir=$HOME ;; "~/"*) dir=$HOME/${dir#"~/"} ;; esac
mkdir -p "$dir/store" "$dir/tmp" && cd "$dir" || exit 3
edgedq_safe() {
  me=$(id -u) here=$(pwd -P) up=$(pwd -P)
  set -- "$here/store" "$here/tmp" "$here"
  while [ "$up" != / ]; do up=${up%/*}; up=${up:-/}; set -- "$@" "$up"; done
  stat -c '%u %a %n' "$@" | {
    i=0
    while read -r uid mode name; do
      i=$((i + 1))
      if [ "$uid" != "$me" ] && [ "$uid" != 0 ]; then echo "edgedq-unsafe $name is owned by uid $uid" >&2; exit 5; fi
      # group/other-writable: never for the work folder itself; for a folder above it only with the sticky bit (/tmp)
      if [ $((0$mode & 022)) -ne 0 ] && { [ $i -le 3 ] || [ $((0$mode & 01000)) -eq 0 ]; }; then
        echo "edgedq-unsafe $name is writable by others (mode $mode)" >&2; exit 5
      fi
    done
  }
}
edgedq_safe || exit 5
"""

# ``argv`` inside the work folder (its paths relative to it, like store/...).
COMMAND = ENTER + 'exec "$@"\n'

# $1 seconds to wait for the lock, $2 who we are, $3 this connection's session id, $4 the lease in seconds.
# Prints "edgedq-locked ROOT" once held.  The host then sends a byte at least every lease/4 s; when the bytes stop
# (the host died, the network split) or the host closes the channel, the lease ends: every process of the
# session (each carries EDGEDQ_SESSION in its environment) is killed, its partial uploads are removed, and the
# lock is free.  Under the lock, temp files older than 10 minutes (of any session) are removed as well.
LOCK = (
    ENTER
    + r"""exec flock -w "$1" lock sh -c '
printf "%s\n" "$1" > lock.owner || exit 3
session=$2 lease=$3
find tmp -type f -mmin +10 -exec rm -f {} + 2>/dev/null
echo "edgedq-locked $(pwd -P)"
while [ -n "$(timeout "$lease" head -c 1)" ]; do :; done
for environ in $(grep -lzx "EDGEDQ_SESSION=$session" /proc/[0-9]*/environ 2>/dev/null); do
  pid=${environ#/proc/}; kill -KILL "${pid%/environ}" 2>/dev/null
done
rm -f tmp/*."$session".*.part
' sh "$2" "$3" "$4"
"""
)

# $1 final path, $2 sha256, $3 session id.  Answers "edgedq-have" when the store holds exactly these bytes (a file
# of the same name with other content is removed, never trusted), else "edgedq-send FREE_BYTES", then receives
# the file into tmp/, hashes it, and renames it into place only when the hash matches.
# Exit 3: writing failed, 4: the bytes that arrived do not hash to $2.
RECEIVE = (
    ENTER
    + r"""final=$1 want=$2 tmp=tmp/${2%"${2#????????????????}"}.$3.$$.part
if [ -f "$final" ]; then
  got=$(sha256sum < "$final") && [ "${got%% *}" = "$want" ] && { echo edgedq-have; exit 0; }
  rm -f "$final"
fi
free=$(stat -f -c '%a %S' .) && set -- $free && echo "edgedq-send $(($1 * $2))" || echo edgedq-send
trap 'rm -f "$tmp"' EXIT
trap 'rm -f "$tmp"; exit 1' HUP INT TERM PIPE
cat > "$tmp" || exit 3
got=$(sha256sum < "$tmp")
[ "${got%% *}" = "$want" ] || { echo "sha256 mismatch: the board received ${got%% *}" >&2; exit 4; }
mkdir -p "${final%/*}" && mv -f "$tmp" "$final"
"""
)

# $1 the agent bundle's sha256, $2 its path, $3 the board's python, then the agent's own arguments.
# The bundle runs only if it hashes right; it runs in a process group of its own (setsid), so that killing a
# hung agent kills what it started too (a python that is a wrapper script, say).  stdin goes through fd 3: a
# background job's own stdin is /dev/null.  The status comes back as 128+N for a death by signal N (sshd reports
# signals in an exit-signal message that paramiko drops).
LAUNCH = (
    ENTER
    + r"""want=$1 agent=$2 py=$3; shift 3
case $py in "~/"*) py=$HOME/${py#"~/"} ;; esac
got=$(sha256sum < "$agent") && [ "${got%% *}" = "$want" ] || {
  echo "edgedq-mismatch the agent at $agent is not the one edgedq sent" >&2; exit 4; }
exec 3<&0
setsid "$py" "$agent" "$@" <&3 3<&- &
echo "edgedq-agent-pid $!" >&2
wait $!
"""
)

# Everything edgedq stored on the board (store/ and tmp/), under the lock; the venv stays.  Prints what it freed.
CLEAN = (
    ENTER
    + r"""set -- $(du -sk store tmp 2>/dev/null | awk '{kb += $1} END {print kb + 0}') $(find store tmp -type f | wc -l)
rm -rf store tmp && mkdir store tmp && echo "edgedq-cleaned $1 $2"
"""
)
