"""The use cases that combine the layers below: prepare a run (read, check the schema,
migrate in memory, build, check, plan) and execute it, validate files, make stand-ins for
smoke runs, export the JSON Schemas. The command line calls only these."""
