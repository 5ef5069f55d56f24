"""The web UI: a Starlette app over a JSON API, with a plain-JS front end shipped in the package.

Nothing here is imported by ``import gittrack``; ``gittrack ui`` imports :mod:`gittrack.ui.app`
(starlette and uvicorn, both in the default install). The payloads the API answers are built
in :mod:`gittrack.ui.data` from the same library functions the CLI calls.
"""
