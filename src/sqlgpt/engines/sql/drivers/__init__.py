"""One file per database: its connections (open, cursors, prepared statements, fetching,
transactions, bulk loads, where its default database is). A driver writes no SQL: every
statement it runs comes from its dialect (`../dialects/`). `../databases.py` pairs each
database's dialect with its driver and imports them only when that database is asked for."""
