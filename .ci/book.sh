#!/usr/bin/env bash
# Builds the mdBook in book/ (the user guide and protocol reference).
# Installs mdbook first when it is not on PATH. Called from .ci/run.
# The book's Rust code is not tested here: `cargo test` runs every ```rust
# block as a doc test (tests/src/book.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

MDBOOK_VERSION=0.5.4   # needs rustc >= 1.88

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! command -v mdbook >/dev/null 2>&1; then
    echo "== installing mdbook $MDBOOK_VERSION (compiles from source; a few minutes on 2 cores)"
    # Only `mdbook build` is needed here: leave out the `serve`/`watch` features.
    cargo install --locked mdbook --version "$MDBOOK_VERSION" \
        --no-default-features --features search
fi

echo "== $(mdbook --version)"
echo "== mdbook build book"
mdbook build book
