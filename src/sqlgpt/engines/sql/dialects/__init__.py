"""One file per database: the SQL text it needs that differs from the base dialect (vector
primitives, session tables, catalogue statements, the standalone script's shell), never a
connection (that is `../drivers/`). `../databases.py` is the one list of databases and
imports each dialect only when that database is asked for."""
