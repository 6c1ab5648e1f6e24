#!/bin/sh
# A laptop that works disconnected and reintegrates on return (the paper's other user).
set -eu
SERVER=me@server:/home/me/work     # the holder
HERE=$HOME/work                    # the holding location on the laptop (a replica)
MNT=$HOME/w                        # optional: work through the Presto mount instead of the tree itself

# Once: the laptop becomes a replica (add --lazy to fetch file data only on first read)
[ -d "$HERE/.intermezzo" ] || intermezzo replicate "$SERVER" "$HERE"

# Live: stay attached. Every change on the laptop is journaled as it happens (by the mount if one is
# up, else by the watcher) and reintegrated at once; the server's changes are pushed here as they
# happen. When the network goes, it keeps journaling and retries (1 s, doubling to 60 s); when the
# server is back it reintegrates what was done offline by itself, conflicts settled by the policy
# (both versions kept by default). Run it as a systemd user service: laptop-sync.service beside
# this file.
intermezzo-sync --watch "$HERE" "$SERVER" &
SYNC=$!

# Working through the mount is optional with --watch (the watcher journals the tree directly):
#   mkdir -p "$MNT"; intermezzo mount "$HERE" "$MNT"
intermezzo status "$HERE"          # live/disconnected since when, pending records, open conflicts

# Conflicts settled by hand, with --policy manual instead of the default:
#   intermezzo conflicts --open "$HERE"
#   intermezzo resolve "$HERE" notes/plan.md --keep client     # or server, both, or a merged file

# Stop: SIGTERM ends the attachment cleanly (what is journaled stays for the next run).
#   kill "$SYNC"
wait "$SYNC"
