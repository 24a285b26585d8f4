#!/usr/bin/env bash
# An emulated Raspberry Pi-like board: a Debian arm64 root filesystem run under qemu-user through binfmt_misc,
# with its own aarch64 sshd inside a network namespace at its own address.
#
#   tools/arm_board.sh build    # qemu, binfmt, rootfs (from the cached tarball when there is one)
#   tools/arm_board.sh start    # mounts, namespace + veth, the board's sshd; prints the inventory entry
#   tools/arm_board.sh stop     # the reverse of start
#   tools/arm_board.sh status   # is the board up?
#   tools/arm_board.sh clean    # stop, and remove everything this script made (rootfs, tarball, qemu, binfmt)
#
# FLAVOUR=bookworm (Python 3.11, the default) or FLAVOUR=trixie (Python 3.13). Needs root (we are).
# CPU=<qemu CPU model> is the CPU the board reports and runs: cortex-a72 (a Pi 4: NEON, no dot product) on bookworm,
# cortex-a76 (a Pi 5: dot product) on trixie; `qemu-aarch64 -cpu help` lists the others (qemu's own default, max,
# has sve/i8mm/sme, which no Pi has). XNNPACK picks its int8 kernels from these features.
# qemu: Debian 12's qemu-user-static 7.2 segfaults inside ai-edge-litert >= 2.2 (Interpreter.__init__), so the
# script fetches Debian 13's qemu-user 10.0 (static binaries) as a .deb and unpacks it without installing it.
set -euo pipefail

ROOT_DIR=$(cd "$(dirname "$0")/.." && pwd)
FLAVOUR=${FLAVOUR:-bookworm}
STATE=${ARM_BOARD_STATE:-$ROOT_DIR/.cache/arm-board}
ROOTFS=$STATE/rootfs-$FLAVOUR
TARBALL=$STATE/rootfs-$FLAVOUR.tar.zst
KEYS=$STATE/keys
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
QEMU_VERSION=10.0.13+ds-0+deb13u1
QEMU_SHA256=ca6ede739327a20ae5a3498230c8a3a9a072c586e131bc6bcc1201eb1725e336
QEMU_DEB=$STATE/qemu-user_${QEMU_VERSION}_amd64.deb
QEMU=$STATE/qemu/usr/bin/qemu-aarch64
BINFMT=/proc/sys/fs/binfmt_misc
BINFMT_NAME=edgedq-aarch64
LITERT=${LITERT:-ai-edge-litert==2.3.0}
NETNS=edgedq-arm-$FLAVOUR
if [ "$FLAVOUR" = trixie ]; then NET=10.213.78 PI_CPU=cortex-a76; else NET=10.213.77 PI_CPU=cortex-a72; fi
CPU=${CPU:-$PI_CPU}
HOST_IF=edq-h-${FLAVOUR:0:3}
BOARD_IF=edq-b-${FLAVOUR:0:3}
BOARD_IP=$NET.2
VENV=/opt/edgedq-venv

log() { printf '[arm-board %s %s] %s\n' "$FLAVOUR" "$(date +%H:%M:%S)" "$*" >&2; }
need() { command -v "$1" >/dev/null || { log "installing $2"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null; }; }
in_board() { chroot "$ROOTFS" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

fetch_qemu() {
  [ -x "$QEMU" ] && return
  mkdir -p "$STATE"
  if [ ! -f "$QEMU_DEB" ]; then
    log "downloading qemu-user $QEMU_VERSION (Debian 13) from $MIRROR"
    curl -fsS -o "$QEMU_DEB.part" "$MIRROR/pool/main/q/qemu/qemu-user_${QEMU_VERSION}_amd64.deb"
    mv "$QEMU_DEB.part" "$QEMU_DEB"
  fi
  echo "$QEMU_SHA256  $QEMU_DEB" | sha256sum -c --quiet -
  dpkg-deb -x "$QEMU_DEB" "$STATE/qemu"
}

register_binfmt() {
  mountpoint -q "$BINFMT" || mount -t binfmt_misc binfmt_misc "$BINFMT"
  if [ -e "$BINFMT/$BINFMT_NAME" ]; then
    grep -q "interpreter $QEMU" "$BINFMT/$BINFMT_NAME" && return
    echo -1 > "$BINFMT/$BINFMT_NAME"
  fi
  for other in "$BINFMT"/qemu-aarch64; do  # an older system qemu would win the match: turn it off
    [ -e "$other" ] && { log "disabling $other (another qemu)"; echo 0 > "$other"; }
  done
  # F: the kernel opens qemu now, so it works inside the chroot without a copy there.
  printf '%s' ":$BINFMT_NAME:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:$QEMU:F" > "$BINFMT/register"
}

build_rootfs() {
  if [ -x "$ROOTFS$VENV/bin/python" ]; then log "rootfs $ROOTFS is ready"; return; fi
  if [ -f "$TARBALL" ]; then
    log "restoring $ROOTFS from $TARBALL"
    remove_rootfs && mkdir -p "$ROOTFS"
    tar --zstd -xpf "$TARBALL" -C "$ROOTFS"
    return
  fi
  need debootstrap debootstrap
  local started=$SECONDS
  remove_rootfs
  log "debootstrap $FLAVOUR arm64, first stage"
  debootstrap --arch=arm64 --foreign --variant=minbase \
    --include=python3,python3-venv,openssh-server,ca-certificates,util-linux,procps \
    "$FLAVOUR" "$ROOTFS" "$MIRROR" >"$STATE/debootstrap-$FLAVOUR.log" 2>&1
  log "second stage, under qemu"
  chroot "$ROOTFS" /debootstrap/debootstrap --second-stage >>"$STATE/debootstrap-$FLAVOUR.log" 2>&1
  cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"  # pip's trust, as here
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\ndisable-pip-version-check = true\n' > "$ROOTFS/etc/pip.conf"
  mount_board
  trap unmount_board EXIT  # a failed step must not leave the host's /dev bind-mounted below the checkout
  log "venv with numpy + $LITERT from their aarch64 wheels (pip under qemu)"
  in_board python3 -m venv "$VENV"
  in_board "$VENV/bin/pip" install -q --only-binary=:all: numpy "$LITERT"
  if [ "$FLAVOUR" = bookworm ]; then  # the second runtime path: tflite-runtime 2.14 needs numpy < 2
    in_board python3 -m venv /opt/tflite-venv
    in_board /opt/tflite-venv/bin/pip install -q --only-binary=:all: 'numpy<2' tflite-runtime==2.14.0 \
      || log "tflite-runtime could not be installed (no wheel for this Python): skipped"
  fi
  in_board ssh-keygen -A >/dev/null
  mkdir -p "$ROOTFS/etc/ssh/sshd_config.d"
  cat > "$ROOTFS/etc/ssh/sshd_config.d/edgedq.conf" <<EOF
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile /etc/ssh/edgedq_authorized_keys
EOF
  unmount_board
  trap - EXIT
  log "rootfs built in $((SECONDS - started)) s; packing $TARBALL"
  tar --zstd -cpf "$TARBALL.part" -C "$ROOTFS" . && mv "$TARBALL.part" "$TARBALL"
  log "rootfs $(du -sh "$ROOTFS" | cut -f1), tarball $(du -sh "$TARBALL" | cut -f1)"
}

mount_board() {
  mountpoint -q "$ROOTFS/proc" || mount -t proc proc "$ROOTFS/proc"
  mountpoint -q "$ROOTFS/dev" || mount --rbind /dev "$ROOTFS/dev"
  mountpoint -q "$ROOTFS/sys" || mount_cpu_lists
  mkdir -p "$ROOTFS/run/sshd"
}

# XNNPACK's CPU detection (the cpuinfo library) needs the CPU lists in /sys, or it declines the board. A small
# read-only tmpfs holds only this host's lists (the cores qemu really has): the host's thermal zones and cpufreq
# must not pass for the board's.
mount_cpu_lists() {
  mkdir -p "$ROOTFS/sys"
  mount -t tmpfs -o size=64k,mode=755 edgedq-sys "$ROOTFS/sys"
  mkdir -p "$ROOTFS/sys/devices/system/cpu"
  for list in possible present online; do
    cp "/sys/devices/system/cpu/$list" "$ROOTFS/sys/devices/system/cpu/$list"
  done
  mount -o remount,ro "$ROOTFS/sys"
}

unmount_board() {
  for target in "$ROOTFS/sys" "$ROOTFS/dev" "$ROOTFS/proc"; do
    mountpoint -q "$target" && umount -R "$target" || true
  done
}

# Never through a mount: below a board that is still mounted, $ROOTFS/dev is the host's own /dev.
remove_rootfs() {
  if running; then log "the $FLAVOUR board is running from $ROOTFS: run 'tools/arm_board.sh stop' first"; exit 1; fi
  unmount_board
  if grep -q " $ROOTFS/" /proc/mounts; then
    log "still mounted below $ROOTFS (is the board running? tools/arm_board.sh stop): not removing it"
    exit 1
  fi
  rm -rf --one-file-system "$ROOTFS"
}

keys() {
  mkdir -p "$KEYS"
  [ -f "$KEYS/client_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -f "$KEYS/client_ed25519"
  install -m 600 "$KEYS/client_ed25519.pub" "$ROOTFS/etc/ssh/edgedq_authorized_keys"
  printf '%s %s\n' "$BOARD_IP" "$(cut -d' ' -f1,2 "$ROOTFS/etc/ssh/ssh_host_ed25519_key.pub")" > "$KEYS/known_hosts-$FLAVOUR"
}

network() {
  ip netns list | grep -qw "$NETNS" || ip netns add "$NETNS"
  if ! ip link show "$HOST_IF" >/dev/null 2>&1; then
    ip link add "$HOST_IF" type veth peer name "$BOARD_IF"
    ip link set "$BOARD_IF" netns "$NETNS"
    ip addr add "$NET.1/30" dev "$HOST_IF"
    ip link set "$HOST_IF" up
    ip netns exec "$NETNS" ip addr add "$BOARD_IP/30" dev "$BOARD_IF"
    ip netns exec "$NETNS" ip link set "$BOARD_IF" up
    ip netns exec "$NETNS" ip link set lo up
  fi
}

running() { [ -f "$STATE/sshd-$FLAVOUR.pid" ] && kill -0 "$(cat "$STATE/sshd-$FLAVOUR.pid")" 2>/dev/null; }
board_cpu() { cat "$STATE/cpu-$FLAVOUR" 2>/dev/null || echo "CPU not recorded"; }

start() {
  [ -x "$ROOTFS$VENV/bin/python" ] || { log "not built: run '$0 build' first"; exit 2; }
  local cpus; cpus=$("$QEMU" -cpu help || true)  # it exits 1 after the list
  grep -qx "  $CPU" <<<"$cpus" || { log "qemu has no CPU '$CPU'; it has:$(tr -s " \n" " " <<<"${cpus#*:}")"; exit 2; }
  register_binfmt
  if running; then
    [ "$(board_cpu)" = "$CPU" ] || { log "running as a $(board_cpu), not a $CPU: stop it first to change it"; exit 1; }
    log "already running at $BOARD_IP"; print_entry; return
  fi
  mount_board
  keys
  network
  log "starting the board's aarch64 sshd at $BOARD_IP as a $CPU"
  # binfmt starts qemu with the environment of each exec: QEMU_CPU in sshd's own environment covers sshd, and
  # SetEnv puts it in every session's (sshd gives sessions a fresh environment).
  QEMU_CPU=$CPU ip netns exec "$NETNS" chroot "$ROOTFS" /usr/sbin/sshd -D -e -o "SetEnv=QEMU_CPU=$CPU" \
    >"$STATE/sshd-$FLAVOUR.log" 2>&1 &
  echo $! > "$STATE/sshd-$FLAVOUR.pid"
  echo "$CPU" > "$STATE/cpu-$FLAVOUR"
  for _ in $(seq 1 100); do
    if timeout 1 bash -c "exec 3<>/dev/tcp/$BOARD_IP/22" 2>/dev/null; then print_entry; return; fi
    running || { log "sshd exited:"; cat "$STATE/sshd-$FLAVOUR.log" >&2; exit 1; }
    sleep 0.3
  done
  log "sshd did not answer within 30 s"; exit 1
}

print_entry() {
  cat <<EOF
# edgedq inventory entry for the emulated board, a $CPU (known_hosts line: $KEYS/known_hosts-$FLAVOUR)
devices:
  arm-$FLAVOUR:
    host: $BOARD_IP
    user: root
    identity_file: $KEYS/client_ed25519
    python: $VENV/bin/python
    workdir: /root/.edgedq
    threads: [1, 2]
    connect_timeout: 30
EOF
}

stop() {
  if running; then kill "$(cat "$STATE/sshd-$FLAVOUR.pid")" 2>/dev/null || true; sleep 0.5; fi
  rm -f "$STATE/sshd-$FLAVOUR.pid" "$STATE/cpu-$FLAVOUR"
  # sessions the board's sshd left (they live in the namespace)
  for pid in $(ip netns pids "$NETNS" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
  ip netns list | grep -qw "$NETNS" && ip netns del "$NETNS"
  ip link del "$HOST_IF" 2>/dev/null || true  # usually gone with the namespace (its veth peer)
  [ -d "$ROOTFS" ] && unmount_board
  log "stopped"
}

case "${1:-}" in
  build) need curl curl; need zstd zstd; fetch_qemu; register_binfmt; build_rootfs ;;
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running at $BOARD_IP as a $(board_cpu)"; else echo "not running"; exit 1; fi ;;
  clean)
    for flavour in bookworm trixie; do FLAVOUR=$flavour "$0" stop >/dev/null 2>&1 || true; done
    if grep -q " $STATE/" /proc/mounts; then log "still mounted below $STATE: not removing it"; exit 1; fi
    [ -e "$BINFMT/$BINFMT_NAME" ] && echo -1 > "$BINFMT/$BINFMT_NAME"
    rm -rf --one-file-system "$STATE"
    log "removed $STATE, the namespaces and the binfmt entry" ;;
  *) sed -n '2,15p' "$0"; exit 2 ;;
esac
