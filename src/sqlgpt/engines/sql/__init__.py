"""SQL engines: the model compiled to SQL, its weights in tables, its KV cache in tables.

    compiler.py   model config -> the weight tables' layout and one forward step as SQL
    dialects/     what differs between databases (types, dot products, bulk loading)
    install.py    weights -> tables, atomically, recorded in a catalogue table
    engine.py     runs the compiled step over a connection; each session owns its KV cache
"""
