#!/bin/sh
# SPDX-License-Identifier: MIT
#
# localdns.sh: the local unbound the bench scripts, the soak and the image
# test ask: local data only (zone test.), no recursion, loopback only.
# Writes DIR/unbound.conf and replaces itself with unbound in the foreground,
# so a caller that starts it with & holds unbound's own PID in $!.
#
# usage: bench/localdns.sh DIR PORT TTL NAME...   (every NAME -> 127.0.0.1)
# (bench/run.sh uses bench/peers/unbound.conf.in: it also needs port 53 for
# sniproxy.)
set -eu
[ $# -ge 4 ] || { echo "usage: $0 DIR PORT TTL NAME..." >&2; exit 2; }
DIR=$1 PORT=$2 TTL=$3
shift 3
{
	cat <<EOC
server:
  interface: 127.0.0.1
  port: $PORT
  do-daemonize: no
  chroot: ""
  username: ""
  pidfile: ""
  use-syslog: no
  logfile: "$DIR/unbound.log"
  directory: "$DIR"
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "test." static
EOC
	for n in "$@"; do echo "  local-data: \"$n. $TTL IN A 127.0.0.1\""; done
} > "$DIR/unbound.conf"
exec unbound -d -c "$DIR/unbound.conf"
