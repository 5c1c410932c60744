#!/bin/sh
# One database and one role per govplat service (identity, payments, notify, registers),
# each role owning only its own database. Run once by the postgres image, on an empty
# data volume (/docker-entrypoint-initdb.d); the passwords come from the environment.
set -eu
for service in identity payments notify registers; do
    password_variable="$(echo "$service" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
    eval "password=\${$password_variable:?$password_variable is not set}"
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
        --set=role="$service" --set=password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"role" OWNER :"role";
REVOKE ALL ON DATABASE :"role" FROM PUBLIC;
SQL
done
