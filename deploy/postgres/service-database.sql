-- One service's own PostgreSQL role and database (issue 12), run by psql as a superuser:
--   psql -v ON_ERROR_STOP=1 -v role=tasktracker_review -v database=tasktracker_review \
--        -v password=... -f service-database.sql
-- The role logs in, owns its database (so it runs its own migrations) and nothing else: no
-- superuser, no CREATEDB/CREATEROLE. No other role may connect to the database (CONNECT is
-- revoked from PUBLIC; the owner keeps it). Safe to run again: existing objects are kept, the
-- password is set again.

SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION', :'role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'role', :'password') \gexec

SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'role')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', :'database', :'role') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'database') \gexec
