#!/bin/sh
# Seed the database volume once (like MySQL's docker-entrypoint-initdb.d), then serve it.
set -e
mkdir -p /var/lib/db/www
if [ ! -f /var/lib/db/www/tables ]; then
  echo "database ${DB_NAME}: tables users orders" > /var/lib/db/www/tables
fi
touch /var/lib/db/ready
exec httpd -f -p 5432 -h /var/lib/db/www
