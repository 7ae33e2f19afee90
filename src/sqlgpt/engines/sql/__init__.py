"""SQL engines: the model compiled to SQL, its weights in tables, its KV cache in tables.

    compiler.py   model config -> the weight tables' layout and one forward step as SQL
    wide.py       the same for databases without a vector type (a column per element)
    layouts.py    which of the two a database uses, and what each offers
    dialects/     each database's SQL text (types, dot products, catalogue statements,
                  the standalone script's shell); never a connection
    drivers/      each database's connections (open, prepare, fetch, transactions, bulk
                  loads); no SQL text: they run what their dialect writes
    databases.py  the one list of databases: name -> dialect + driver, imported lazily
    install.py    weights -> tables, atomically, recorded in a catalogue table
    engine.py     runs the compiled step over a connection; each session owns its KV cache
"""
