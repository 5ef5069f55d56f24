"""The command line: parse, call the library, render. The only place that prints."""
