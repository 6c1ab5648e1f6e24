#!/bin/sh
# A laptop that works disconnected and reintegrates on return (the paper's other user).
set -eu
SERVER=me@server:/home/me/work     # the holder
HERE=$HOME/work                    # the holding location on the laptop (a replica)
MNT=$HOME/w                        # where you work: the Presto filter journals every change

# Once: the laptop becomes a replica (add --lazy to fetch file data only on first read)
[ -d "$HERE/.intermezzo" ] || intermezzo replicate "$SERVER" "$HERE"

# Every day: work through the mount, connected or not; each update is journaled as it happens,
# so a sync ships what changed without scanning the tree.
mkdir -p "$MNT"
intermezzo mount "$HERE" "$MNT"
#   ... edit files in ~/w ...
intermezzo status "$HERE"          # pending records, filter state, open conflicts

# Back on the network: reintegrate. Conflicts keep both versions by default; with
# --policy manual the server's copy stays and yours is parked for you to choose.
intermezzo-sync --policy manual "$HERE" "$SERVER" || [ $? -eq 3 ]
intermezzo conflicts --open "$HERE"
#   intermezzo resolve "$HERE" notes/plan.md --keep client     # or server, both, or a merged file
intermezzo umount "$MNT"
