#!/bin/sh
# A web tree mirrored from cron (the paper's target: replication with no one at the keyboard).
#
# /srv/www-master is edited by the site's authors; it holds the file set. Every web host serves a
# replica of it, kept an exact copy: an edit made on a web host is reverted — the reverted version
# kept under that host's /srv/www/.intermezzo/conflicts/ and logged there — and the admin is mailed
# the list whenever anything had to be reverted. Each host is its own replica of the master's file
# set; `intermezzo status /srv/www-master` lists them and when each last synced.
#
# crontab line on the master (every 5 minutes; the hosts are mirrored at once, the holder serves
# them all together; a run for a host whose previous run is still going exits 7, locked):
#   */5 * * * * /usr/local/bin/cron-www-mirror.sh
set -u
MASTER=/srv/www-master
HOSTS="web1 web2 web3"
LOCAL_COPY=/srv/www-staging          # a mirror on the master's own host, too
HOOK='mail -s "www mirror: changes reverted" webmaster@example.org'

mirror() {
  # --mirror: SRC holds and DEST is its replica, an exact copy (exit 3 when it reverted something)
  intermezzo-sync --mirror --notify-command "$HOOK" "$MASTER" "$1"
  rc=$?
  [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || echo "mirror to $1 failed: exit $rc" >&2
  return 0
}

for host in $HOSTS; do mirror "$host:/srv/www" & done
mirror "$LOCAL_COPY" &
wait

# Never a wipe: if /srv/www-master is empty (its disk not mounted), every run is refused with
# EMPTY_SOURCE (exit 5) and no web host loses a file.
#
# The pull form, from each web host's own crontab instead (the master still holds):
#   */5 * * * * intermezzo-sync --mirror master:/srv/www-master /srv/www
#
# Live instead of every 5 minutes: a long-running process keeps the mirror attached; an edit on
# the master is pushed within milliseconds, a stray edit on the host is reverted as it is made. On
# the master, one process per host (the push form, as lsyncd; www-mirror@.service is its unit):
#   intermezzo-sync --mirror --watch "$MASTER" web1:/srv/www
# or on each web host (the pull form):
#   intermezzo-sync --mirror --watch master:/srv/www-master /srv/www
# Either one reconnects by itself after a cut (1 s doubling to 60 s) and the host catches up from
# the master's log; SIGTERM stops it cleanly.
#
# Two-way instead, where the web hosts may publish too and the master's copy wins a conflict,
# except logs, where the newer one does (--holder src: the master holds this new file set):
#   intermezzo-sync --holder src --policy server --policy '*.log=newer' "$MASTER" web1:/srv/www
