#!/usr/bin/env bash
# Installs dbsplit for the GitHub Action (action.yml), into $RUNNER_TEMP/dbsplit/bin, added to
# GITHUB_PATH. A dbsplit already on PATH is used as it is. Otherwise, when the action is used at
# a release tag (uses: OWNER/dbsplit@v1.2.3), the release's binary for this runner
# (dbsplit-<target>.tar.gz) when the release has one; else cargo builds it:
# `cargo install --locked --git` of the action's repository at the action's ref, or from the
# action's own checkout when the repository is not known.
#
#   ACTION_REPOSITORY  owner/name of the action (github.action_repository)
#   ACTION_REF         the ref it is used at (github.action_ref): tag, branch or commit
#   ACTION_PATH        the action's checkout (github.action_path)
set -euo pipefail

if command -v dbsplit >/dev/null 2>&1; then
  echo "dbsplit is installed: $(dbsplit --version)"
  exit 0
fi

root="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/dbsplit"
mkdir -p "$root/bin"
repository=${ACTION_REPOSITORY:-}
ref=${ACTION_REF:-}
server=${GITHUB_SERVER_URL:-https://github.com}

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) target=x86_64-unknown-linux-gnu ;;
  Linux-aarch64) target=aarch64-unknown-linux-gnu ;;
  Darwin-arm64) target=aarch64-apple-darwin ;;
  Darwin-x86_64) target=x86_64-apple-darwin ;;
  *) target="" ;;
esac

installed=""
if [ -n "$repository" ] && [ -n "$target" ] && [[ "$ref" =~ ^v[0-9] ]]; then
  url="$server/$repository/releases/download/$ref/dbsplit-$target.tar.gz"
  if curl --fail --silent --show-error --location --retry 3 "$url" -o "$root/dbsplit.tar.gz" 2>/dev/null; then
    tar -xzf "$root/dbsplit.tar.gz" -C "$root/bin" dbsplit
    installed="release $ref ($target)"
  else
    echo "no release binary at $url; building with cargo"
  fi
fi

if [ -z "$installed" ]; then
  if ! command -v cargo >/dev/null 2>&1; then
    echo "::error title=dbsplit::cannot install dbsplit: no release binary for this runner and no cargo (add a Rust toolchain step first)"
    exit 2
  fi
  if [ -n "$repository" ]; then
    from=(--git "$server/$repository")
    if [[ "$ref" =~ ^[0-9a-f]{40}$ ]]; then
      from+=(--rev "$ref")
    elif [[ "$ref" =~ ^v[0-9] ]]; then
      from+=(--tag "$ref")
    elif [ -n "$ref" ]; then
      from+=(--branch "$ref")
    fi
  else
    from=(--path "${ACTION_PATH:?ACTION_PATH or ACTION_REPOSITORY is needed}")
  fi
  cargo install --locked --root "$root" "${from[@]}" dbsplit
  installed="cargo install ${from[*]}"
fi

echo "$root/bin" >>"${GITHUB_PATH:-/dev/null}"
echo "dbsplit installed from $installed: $("$root/bin/dbsplit" --version)"
