"""SQL engines: the model compiled to SQL, its weights in tables, its KV cache in tables.

    plan.py       every query an engine runs, written once: the forward step, logits, loss,
                  softmax and top-k, explain's measurements
    layouts/      how a database stores a vector (a vector type, or a column per element):
                  the few operations of the plan that differ, and the weight tables
    dialects/     what differs between databases (types, dot products, bulk loading);
                  dialects/__init__.py is the one list of databases
    install.py    weights -> tables, atomically, recorded in a catalogue table
    engine.py     runs the plan's statements over a connection; each session owns its KV cache
    explain.py    explain's measurements, read back into arrays
    script.py     the standalone SQL script: tokenizer, step and sampling in the database's shell
"""
