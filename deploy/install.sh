#!/bin/bash
# sv-monitor's installer: install or upgrade from this bundle, roll back, uninstall.
# No network: the program comes from ./wheelhouse (pip --no-index).  See INSTALL.txt.
#
#   ./install.sh                        install, or upgrade to this bundle's version
#   ./install.sh --rollback             back to the previous version
#   ./install.sh --rollback --restore-store
#                                       ... and the store as it was before the upgrade
#   ./install.sh --uninstall            remove the program and the unit (keeps /etc/monitor,
#                                       the secrets and the store)
#   --root DIR                          install under DIR (a test install: no systemctl)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT=""
ACTION=install
RESTORE_STORE=no
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="$(realpath -m "$2")"; shift 2 ;;
    --rollback) ACTION=rollback; shift ;;
    --restore-store) RESTORE_STORE=yes; shift ;;
    --uninstall) ACTION=uninstall; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

OPT="$ROOT/opt/sv-monitor"
ETC="$ROOT/etc/monitor"
UNITS="$ROOT/etc/systemd/system"
STATE="$ROOT/var/lib/monitor"
PYTHON="${PYTHON:-/usr/bin/python3}"
say() { echo "install.sh: $*"; }
fail() { echo "install.sh: $*" >&2; exit 1; }
systemd_live() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }

if [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
  fail "run as root (sudo ./install.sh), or --root DIR for a test install"
fi
# The commands below run against this installation's settings and store.
export MONITOR_SETTINGS="$ETC/monitor.toml"
if [ -n "$ROOT" ]; then
  export MONITOR_DATABASE_URL="sqlite+aiosqlite:///$STATE/monitor.db"
  export MONITOR_INVENTORY="$ETC/inventory.yaml"
fi
export CREDENTIALS_DIRECTORY="$ETC/secrets"  # what systemd hands the service

release_of() { basename "$(readlink -f "$1")"; }

# -- the Debian packages --
need_debs() {
  local missing=() optional=()
  for p in python3 python3-venv; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  for p in libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || optional+=("$p")
  done
  local all=("${missing[@]}" "${optional[@]}")
  if [ ${#all[@]} -gt 0 ] && [ -z "$ROOT" ] && command -v apt-get >/dev/null; then
    # the distribution's media (a DVD in the apt sources) when apt has them
    if apt-get install -y -qq --no-download "${all[@]}" >/dev/null 2>&1 ||
       apt-get install -y -qq "${all[@]}" >/dev/null 2>&1; then
      say "installed Debian packages: ${all[*]}"; return
    fi
  fi
  [ ${#optional[@]} -gt 0 ] && say "missing (the PDF report needs them): ${optional[*]}"
  if [ ${#missing[@]} -gt 0 ]; then
    fail "missing Debian packages: ${missing[*]} (apt-get install ${missing[*]}, from the installation DVD)"
  fi
  return 0
}

# -- /etc/monitor, the secrets, the unit --
configure() {
  install -d -m 0755 "$ETC"
  install -d -m 0700 "$ETC/secrets"
  chmod 0600 "$ETC"/secrets/* 2>/dev/null || true
  local f
  for f in inventory.yaml monitor.toml roster.yaml holidays.yaml; do
    if [ ! -e "$ETC/$f" ]; then
      sed -e "s#/etc/monitor#$ETC#g" -e "s#/var/lib/monitor#$STATE#g" \
        "$HERE/examples/$f" > "$ETC/$f"
      chmod 0644 "$ETC/$f"
      say "wrote the example $ETC/$f: edit it for this site"
    fi
  done
  install -d -m 0755 "$UNITS" "$UNITS/sv-monitor.service.d"
  sed -e "s#/opt/sv-monitor#$OPT#g" -e "s#/etc/monitor#$ETC#g" \
    "$HERE/sv-monitor.service" > "$UNITS/sv-monitor.service"
  {
    echo "# written by install.sh: each file in $ETC/secrets is a credential of the"
    echo "# service (credential:NAME in the inventory and settings)"
    echo "[Service]"
    echo "Environment=MONITOR_SETTINGS=$ETC/monitor.toml"
    for f in "$ETC"/secrets/*; do
      [ -f "$f" ] && echo "LoadCredential=$(basename "$f"):$f"
    done
  } > "$UNITS/sv-monitor.service.d/credentials.conf"
  install -d -m 0755 "$STATE" "$STATE/backups"
}

check_and_enable() {
  local monitor="$OPT/bin/monitor"
  if ! "$monitor" check "$ETC/inventory.yaml"; then
    say "installed $VERSION, NOT enabled: fix what monitor check says above (secrets go"
    say "in $ETC/secrets/NAME, one file each), then run install.sh again"
    exit 3
  fi
  if systemd_live; then
    systemctl daemon-reload
    systemctl enable sv-monitor >/dev/null
    systemctl restart sv-monitor
    say "sv-monitor $VERSION is running: systemctl status sv-monitor; journalctl -u sv-monitor"
  else
    say "sv-monitor $VERSION installed under ${ROOT:-/} (systemd not started: a test install)"
  fi
}

stop_service() { systemd_live && systemctl stop sv-monitor 2>/dev/null || true; }

install_release() {
  VERSION="$(sed -n 1p "$HERE/VERSION")"
  local tag arch want_tag
  tag="$(sed -n 2p "$HERE/VERSION")"; arch="$(sed -n 3p "$HERE/VERSION")"
  need_debs
  want_tag="$("$PYTHON" -c 'import sys; print(f"cp{sys.version_info.major}{sys.version_info.minor}")')"
  [ "$tag" = "$want_tag" ] || fail "this bundle is for $tag; $PYTHON is $want_tag"
  [ "$arch" = "$(uname -m)" ] || fail "this bundle is for $arch; this machine is $(uname -m)"
  local release="$OPT/releases/$VERSION"
  if [ ! -e "$release/.complete" ]; then
    # (in place: a virtualenv's scripts name its path; .complete marks it whole)
    rm -rf "$release"
    install -d -m 0755 "$OPT/releases"
    "$PYTHON" -m venv "$release"
    "$release/bin/pip" install --quiet --no-index --disable-pip-version-check \
      --find-links "$HERE/wheelhouse" "sv-monitor==$VERSION"
    touch "$release/.complete"
    say "installed the program in $release"
  fi
  configure
  local old=""
  [ -L "$OPT/current" ] && old="$(release_of "$OPT/current")"
  if [ -n "$old" ] && [ "$old" != "$VERSION" ]; then
    stop_service
    if [ -e "$STATE/monitor.db" ]; then
      local copy="$STATE/backups/before-$VERSION-from-$old.db"
      rm -f "$copy"
      "$OPT/current/bin/monitor" backup -o "$copy"
      echo "$copy" > "$release/.store-backup"
    fi
    ln -sfn "releases/$old" "$OPT/previous"
    say "upgrading $old → $VERSION ($old kept for install.sh --rollback)"
  fi
  ln -sfn "releases/$VERSION" "$OPT/current"
  install -d -m 0755 "$OPT/bin"
  ln -sfn "../current/bin/monitor" "$OPT/bin/monitor"
  "$OPT/bin/monitor" migrate
  check_and_enable
}

rollback() {
  [ -L "$OPT/previous" ] || fail "no previous version to roll back to"
  local from to
  from="$(release_of "$OPT/current")"; to="$(release_of "$OPT/previous")"
  VERSION="$to"
  stop_service
  set +e
  "$OPT/previous/bin/monitor" migrate --dry-run
  local known=$?
  set -e
  if [ "$known" -eq 3 ]; then
    local copy=""
    [ -f "$OPT/releases/$from/.store-backup" ] && copy="$(cat "$OPT/releases/$from/.store-backup")"
    if [ "$RESTORE_STORE" != yes ]; then
      say "$from migrated the store past what $to knows: a rollback cannot undo that."
      say "install.sh --rollback --restore-store puts back the store as it was before"
      say "the upgrade (${copy:-no backup found}); what happened since is lost."
      exit 4
    fi
    [ -n "$copy" ] && [ -f "$copy" ] || fail "no backup from before the upgrade to $from"
    "$OPT/previous/bin/monitor" restore "$copy"
  fi
  ln -sfn "releases/$to" "$OPT/current"
  ln -sfn "releases/$from" "$OPT/previous"
  say "rolled back $from → $to ($from kept: install.sh from its bundle goes forward again)"
  check_and_enable
}

uninstall() {
  stop_service
  systemd_live && systemctl disable sv-monitor >/dev/null 2>&1 || true
  rm -rf "$UNITS/sv-monitor.service" "$UNITS/sv-monitor.service.d" "$OPT"
  systemd_live && systemctl daemon-reload || true
  say "removed the program and the unit; kept $ETC (settings, secrets) and $STATE (the store)"
}

case "$ACTION" in
  install) install_release ;;
  rollback) rollback ;;
  uninstall) uninstall ;;
esac
