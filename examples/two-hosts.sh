#!/bin/sh
# Two directories on two hosts kept identical both ways, without rescanning either tree each time.
set -eu

# Through the remote host's OpenSSH server (your keys, agent, known_hosts and ~/.ssh/config);
# the remote side holds the file set, this host is its replica. The first run unions the trees.
intermezzo-sync ./photos alice@nas:/srv/photos
intermezzo-sync --dry-run ./photos alice@nas:/srv/photos   # what the next run would do
intermezzo-sync --json ./photos alice@nas:/srv/photos      # one JSON summary, for scripts

# Or through Lento's own SSH listener on the server, for a long-running holder:
#   on nas:   intermezzo serve --listen 0.0.0.0:2222 --host-key /etc/intermezzo/host_key --init \
#                 --authorized-keys /etc/intermezzo/authorized_keys /srv/photos
#   here:     intermezzo-sync ./photos imz://nas:2222/photos
