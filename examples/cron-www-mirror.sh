#!/bin/sh
# A web tree mirrored from cron (the paper's target: replication with no one at the keyboard).
#
# /srv/www-master is edited by the site's authors; web1 and web2 serve copies. Each run makes every
# copy exact: edits made on a web host are reverted — and kept under its .intermezzo/conflicts/ —
# and the admin is mailed the list whenever anything had to be settled.
#
# crontab line (every 5 minutes; a run that finds the previous one still going exits 7, locked):
#   */5 * * * * /usr/local/bin/cron-www-mirror.sh
set -u
MASTER=/srv/www-master
HOOK='mail -s "www mirror: conflicts settled" webmaster@example.org'

status=0
for host in web1 web2; do
  # --mirror: DEST becomes an exact copy of SRC; its default policy keeps SRC's copy (client)
  intermezzo-sync --mirror --notify-command "$HOOK" "$MASTER" "$host:/srv/www"
  rc=$?
  # 3: conflicts occurred and were settled (and mailed); anything else but 0 needs a look
  [ "$rc" -eq 0 ] || [ "$rc" -eq 3 ] || status=$rc
done
exit "$status"

# Two-way instead, where the web hosts may publish too and the master's copy wins a conflict,
# except logs, where the newer one does:
#   intermezzo-sync --policy server --policy '*.log=newer' "$MASTER" web1:/srv/www
