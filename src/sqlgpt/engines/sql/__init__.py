"""SQL engines: the model compiled to SQL, its weights in tables, its KV cache in tables.

    compiler.py   model config -> the weight tables' layout and one forward step as SQL
    wide.py       the same for databases without a vector type (a column per element)
    layouts.py    which of the two a database uses, and what each offers
    dialects/     what differs between databases (types, dot products, bulk loading);
                  dialects/__init__.py is the one list of databases
    install.py    weights -> tables, atomically, recorded in a catalogue table
    engine.py     runs the compiled step over a connection; each session owns its KV cache
"""
