#!/usr/bin/env bash
# Opens a page in headless Chromium and saves what it shows as a PNG: a check that a
# report page (a run's index.html, results/index.html) renders in a real browser.
#
#   scripts/screenshot.sh PAGE OUT.png [WIDTHxHEIGHT]
#
# PAGE is a file path (made absolute, opened as file://) or a URL; the window defaults
# to 1600x2400. Needs `chromium` (Debian: apt-get install chromium) or `chromium-browser`
# on PATH. Runs as root with --no-sandbox, without a GPU, and with a throwaway profile.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 PAGE OUT.png [WIDTHxHEIGHT]" >&2
  exit 2
fi
page=$1 out=$2 size=${3:-1600x2400}
if ! [[ $size =~ ^[0-9]+x[0-9]+$ ]]; then
  echo "$0: size must be WIDTHxHEIGHT, got $size" >&2
  exit 2
fi
case "$page" in
  *://*) url=$page ;;
  *)
    [ -f "$page" ] || { echo "$0: no such page: $page" >&2; exit 2; }
    url="file://$(cd "$(dirname "$page")" && pwd)/$(basename "$page")"
    ;;
esac
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "$0: chromium is not installed (apt-get install chromium)" >&2; exit 2; }

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
mkdir -p "$(dirname "$out")"
out_abs="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
rm -f "$out_abs"
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$profile" --window-size="${size/x/,}" \
  --screenshot="$out_abs" "$url" > /dev/null 2>&1 || true
[ -s "$out_abs" ] || { echo "$0: chromium wrote no screenshot of $url" >&2; exit 1; }
echo "$out_abs"
