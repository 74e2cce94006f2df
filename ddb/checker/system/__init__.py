"""The system checker: DAOS's passes 0-5 over a whole offline system image.

``classes`` (the system classes and ``decide``), ``engine`` (what runs where
the storage is: clues and repair orders as JSON-able requests and responses),
``transport`` (how the leader reaches the engines: ``LocalTransport`` runs
them in parallel processes over one system root). The leader and its state
build on them. Like ``ddb.checker`` it imports vosfmt and ``ddb.checker``
only, never ddb's commands, command line or shell.
"""
