"""SQL engines: the model compiled to SQL, its weights in tables, its KV cache in tables.

    plan/         every query an engine runs, written once: the forward step, logits, loss,
                  softmax and top-k, explain's measurements
    layouts/      how a database stores a vector (a vector type, or a column per element):
                  the few operations of the plan that differ, and the weight tables
    dialects/     each database's SQL text (types, dot products, catalogue statements,
                  the standalone script's shell); never a connection
    drivers/      each database's connections (open, prepare, fetch, transactions, bulk
                  loads); no SQL text: they run what their dialect writes
    databases.py  the one list of databases: name -> dialect + driver, imported lazily
    install.py    weights -> tables, atomically, recorded in a catalogue table
    engine.py     runs the plan's statements over a connection; each session owns its KV cache
    explain.py    explain's measurements, read back into arrays
    script.py     the standalone SQL script: tokenizer, step and sampling in the database's shell
"""
