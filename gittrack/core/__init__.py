"""The bottom layer: errors, names, the git I/O, the record format, the run store and the project config."""
