#!/bin/sh
# Run once by the postgres image when it creates the cluster (docker-entrypoint-initdb.d):
# let the archive's role open replication connections from the other containers, so the
# worker's database journal job can stream the WAL (pg_receivewal) and take base backups
# (pg_basebackup). The image allows them from localhost only.
set -eu
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
