#!/bin/sh
# Run once by the postgres image on an empty data directory (mounted into
# /docker-entrypoint-initdb.d by deploy/compose.yaml): a role and a database per service,
# each role reaching only its own database (service-database.sql). The superuser is used here
# and by nothing else. Passwords: TT_PG_<SERVICE>_PASSWORD.
#
# TT_PG_PREFIX (default tasktracker_) names the roles and databases; TT_PG_SERVICE_SQL is
# where service-database.sql is. psql connects with the usual PG* variables.
set -eu
prefix="${TT_PG_PREFIX:-tasktracker_}"
sql="${TT_PG_SERVICE_SQL:-/etc/tasktracker/service-database.sql}"
for service in ingestion knowledge analysis review; do
    variable="TT_PG_$(echo "$service" | tr '[:lower:]' '[:upper:]')_PASSWORD"
    password="$(printenv "$variable" || true)"
    if [ -z "$password" ]; then
        echo "initdb.sh: $variable is not set" >&2
        exit 1
    fi
    psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
        --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
        -v role="$prefix$service" -v database="$prefix$service" -v password="$password" \
        -f "$sql"
done
