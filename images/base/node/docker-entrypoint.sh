#!/bin/sh
# As the official node image: an option (`-e ...`), a script file that is not executable, or a
# word that names no command is handed to node; anything else runs as given.
set -e
first=${1-}
if [ "${first#-}" != "$first" ] || [ -z "$(command -v "$first")" ] \
  || { [ -f "$first" ] && [ ! -x "$first" ]; }; then
  set -- node "$@"
fi
exec "$@"
