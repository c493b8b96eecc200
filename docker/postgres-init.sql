-- Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d): creates the
-- orchestrator's own database; Temporal's `temporal` and `temporal_visibility` are created by auto-setup.
CREATE DATABASE glowtify;
